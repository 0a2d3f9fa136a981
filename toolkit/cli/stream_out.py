"""`edgecv run` on a camera / video / stream: wire the options to edgecv.runtimes.streams.loop and print the summary."""
from __future__ import annotations

import sys

from edgecv.cli.common import err


def run_stream_cli(rt, target, *, topk, show, record, json_lines, max_frames, duration, smooth, every,
                   reconnect, max_pixels=None, in_flight: int = 1) -> int:
    from edgecv.runtimes.pipeline.images import DecodeOptions
    from edgecv.runtimes.streams.capture import Source
    from edgecv.runtimes.streams.loop import StreamOptions, display_available, run_stream

    if show and not display_available():
        err.print("no display (DISPLAY is not set): running without a window", highlight=False)
    if record is not None and not record.parent.is_dir():
        from edgecv.errors import EdgecvError

        raise EdgecvError(f"--record folder {record.parent} does not exist")
    opts = StreamOptions(topk=topk, show=show, record=record, json_lines=json_lines, max_frames=max_frames,
                         duration=duration, smooth=smooth, every=every, in_flight=in_flight)
    with rt:
        source = Source(target, reconnect=reconnect, decode=DecodeOptions.for_spec(rt.spec, max_pixels))
        summary = run_stream(rt, source, opts, out=sys.stdout)
    d = summary.to_dict()
    err.print(f"{d['source']}: {d['frames']} frames ({d['inferred']} inferred), {d['dropped']} dropped, "
              f"{d['corrupt']} corrupt, {d['reconnects']} reconnects, {d['fps']:.1f} FPS, "
              f"latency p50 {d['latency_ms_p50']:.1f} ms / p95 {d['latency_ms_p95']:.1f} ms, "
              f"model p50 {d['model_ms_p50']:.2f} ms on {rt.name}; exit: {d['exit']}"
              + (f"; recorded {d['recording']}" if d["recording"] else ""), highlight=False)
    return 0
