"""`edgecv run` on a camera / video / stream: wire the options to edgecv.runtimes.streams.loop, print
what is seen, write the per-frame rows (--csv, -o) and the summary."""
from __future__ import annotations

import sys

from edgecv.cli.common import err, out


def _seen(record: dict, state: dict) -> None:
    """One line on stdout each time the top-1 answer changes: what the model sees, and when."""
    top = record["topk"][0] if record["topk"] else None
    key = top["index"] if top else None
    if key == state.get("last"):
        return
    state["last"] = key
    at = f"{record['pts_s']:.2f} s" if record["pts_s"] is not None else f"+{record['elapsed_s']:.2f} s"
    what = "  ".join(f"{t['label']} {t['prob']:.3f}" for t in record["topk"][:3])
    out.print(f"frame {record['frame']} ({at}): {what}")


def run_stream_cli(rt, target, *, topk, show, record, json_lines, max_frames, duration, smooth, every,
                   reconnect, max_pixels=None, in_flight: int = 1, csv=None, output=None,
                   record_codec: str = "auto") -> int:
    from edgecv.errors import EdgecvError
    from edgecv.runtimes.pipeline.images import DecodeOptions
    from edgecv.runtimes.streams.capture import Source
    from edgecv.runtimes.streams.loop import StreamOptions, display_available, run_stream

    if show and not display_available():
        err.print("no display (DISPLAY is not set): running without a window")
    if record is not None and not record.parent.is_dir():
        raise EdgecvError(f"--record folder {record.parent} does not exist")
    rows: list[dict] = []
    state: dict = {}

    def on_frame(rec):
        if csv is not None or output is not None:
            rows.append(rec)
        if not json_lines:
            _seen(rec, state)

    opts = StreamOptions(topk=topk, show=show, record=record, record_codec=record_codec, json_lines=json_lines,
                         max_frames=max_frames, duration=duration, smooth=smooth, every=every, in_flight=in_flight,
                         on_frame=on_frame)
    with rt:
        source = Source(target, reconnect=reconnect, decode=DecodeOptions.for_spec(rt.spec, max_pixels))
        summary = run_stream(rt, source, opts, out=sys.stdout)
    if output is not None:
        from edgecv.runtimes.pipeline.results_file import write_results

        write_results(output, rows)
    if csv is not None:
        from edgecv.runtimes.pipeline.classify import write_frames_csv

        write_frames_csv(csv, rows)
    d = summary.to_dict()
    err.print(f"{d['source']}: {d['frames']} frames ({d['inferred']} inferred), {d['dropped']} dropped, "
              f"{d['corrupt']} corrupt, {d['reconnects']} reconnects, {d['fps']:.1f} FPS, "
              f"latency p50 {d['latency_ms_p50']:.1f} ms / p95 {d['latency_ms_p95']:.1f} ms, "
              f"model p50 {d['model_ms_p50']:.2f} ms on {rt.name}; exit: {d['exit']}"
              + (f"; recorded {d['recording']}" if d["recording"] and d["frames"] else ""))
    if d["frames"] == 0:
        print(f"error: {d['source']} gave no frame ({d['exit']})", file=sys.stderr)
        return 1
    if summary.failed:
        print(f"error: {d['source']}: {summary.failed}", file=sys.stderr)
        return 1
    return 0
