"""Streams on the deploy side: capture thread, the stream loop, overlay and recording."""
