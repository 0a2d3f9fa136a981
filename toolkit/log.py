"""Warnings through one channel: the ``edgecv`` logger (no torch).

Library code calls ``warn(...)``; each becomes one ``warning: ...`` line on stderr.  A Python
caller who wants them elsewhere configures the ``edgecv`` logger (its handlers, ``propagate``).
"""
from __future__ import annotations

import logging
import sys

logger = logging.getLogger("edgecv")


def warn(message: str) -> None:
    logger.warning(message)


def info(message: str) -> None:
    logger.info(message)


class _StderrHandler(logging.Handler):
    """Resolves ``sys.stderr`` at each record (test runners and the CLI swap it)."""

    def emit(self, record):
        try:
            prefix = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
            print(prefix + record.getMessage(), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


_handler = _StderrHandler(logging.WARNING)
logger.addHandler(_handler)  # warnings reach stderr whatever the host application configured
logger.propagate = False
logger.setLevel(logging.WARNING)


def show_notes() -> None:
    """The CLI also shows progress notes (INFO), such as a saved snapshot."""
    _handler.setLevel(logging.INFO)
    logger.setLevel(logging.INFO)
