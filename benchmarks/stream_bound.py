"""How close `edgecv run VIDEO` comes to what the cores allow (issue: streams closer to the bound).

    python benchmarks/stream_bound.py [--frames 240] [--out benchmarks/results/stream_bound.md]

resnet18 (random weights) on a 1280x720 MJPEG video made of the sample photos.  Each stage's CPU
time per frame is measured alone: decode (cv2.VideoCapture, one thread), preprocess (edgecv's deploy
preprocessing, one thread), inference at batch 1 (CPU time of the whole process, ONNX Runtime's
threads included, with ONNX Runtime's spin-waiting on and off: without spinning the CPU time is
work, not waiting), and its wall time.  The bound: cores / (total CPU seconds per frame), what the
machine could do if no core ever waited.  Then `run_stream` (what `edgecv run VIDEO --no-show`
runs; decoding in the capture thread) one frame at a time with ONNX Runtime on every core (before)
and with one frame per core in flight on single-threaded sessions (now), interleaved three times,
medians against the bound and against model-only throughput.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the edgecv CLI sets it

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from stream_bench import make_video  # noqa: E402  (the same 1280x720 MJPEG video of the sample photos)

ROOT = Path(__file__).resolve().parents[1]


def main():
    import torch

    from edgecv.cpuinfo import cpu_features
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx
    from edgecv.loaders.checkpoint import save_checkpoint
    from edgecv.models import create_model, default_spec
    from edgecv.runtimes import load
    from edgecv.runtimes.pipeline.preprocess import Preprocessor
    from edgecv.runtimes.streams.capture import Source
    from edgecv.runtimes.streams.loop import StreamOptions, run_stream

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/stream_bound.md")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    ck = save_checkpoint(tmp / "r18.pt", create_model("resnet18").eval(), default_spec("resnet18"))
    model = export_onnx(ck, ExportOptions(output=tmp / "r18.onnx")).path
    video = tmp / "720p.avi"
    make_video(video, a.frames)
    cores = os.cpu_count()
    with load(model) as rt:
        # decode alone
        cap = cv2.VideoCapture(str(video))
        frames, c0 = [], time.thread_time()
        while True:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
        decode_ms = (time.thread_time() - c0) / len(frames) * 1e3
        pre = Preprocessor(rt.spec)
        c0 = time.thread_time()
        xs = [pre(f, "BGR")[None] for f in frames]
        pre_ms = (time.thread_time() - c0) / len(frames) * 1e3
        import onnxruntime as ort

        def infer_cost(spin: bool) -> tuple[float, float]:
            so = ort.SessionOptions()
            so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
            sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
            name = sess.get_inputs()[0].name
            for x in xs[:5]:
                sess.run(None, {name: x})
            c0, w0 = time.process_time(), time.perf_counter()
            for x in xs:
                sess.run(None, {name: x})
            return (time.process_time() - c0) / len(xs) * 1e3, (time.perf_counter() - w0) / len(xs) * 1e3

        spin_cpu_ms, infer_wall_ms = infer_cost(True)
        infer_cpu_ms, nospin_wall_ms = infer_cost(False)
        total_cpu = decode_ms + pre_ms + infer_cpu_ms
        bound = cores * 1e3 / total_cpu
        model_fps = 1e3 / infer_wall_ms
        devnull = open(os.devnull, "w")
        runs = {"serial": [], "in_flight": []}
        with load(model, intra_op_threads=1) as rt1:
            for _ in range(3):
                runs["serial"].append(run_stream(rt, Source(str(video)), StreamOptions(show=False), out=devnull).fps)
                runs["in_flight"].append(run_stream(rt1, Source(str(video)), StreamOptions(
                    show=False, in_flight=min(cores, 4)), out=devnull).fps)
    cpu = cpu_features()
    fs, fo = float(np.median(runs["serial"])), float(np.median(runs["in_flight"]))
    lines = [
        "# Streams against the cores' bound (resnet18, 1280x720 MJPEG file, `run_stream`)", "",
        f"`python benchmarks/stream_bound.py --frames {a.frames}`; CPU {cpu['model']} ({cpu['isa']}), {cores} cores.", "",
        "| stage | CPU ms per frame |", "|---|---|",
        f"| decode (capture thread) | {decode_ms:.2f} |", f"| preprocess | {pre_ms:.2f} |",
        f"| inference, batch 1 (all ONNX Runtime threads, spinning off; wall {nospin_wall_ms:.2f} ms; with "
        f"spinning, as run: {spin_cpu_ms:.2f} ms CPU, wall {infer_wall_ms:.2f} ms) | {infer_cpu_ms:.2f} |",
        f"| **total** | **{total_cpu:.2f}** |", "",
        f"Bound = {cores} cores / {total_cpu:.2f} ms = **{bound:.1f} FPS**; model-only throughput {model_fps:.1f} FPS.", "",
        "| run_stream | FPS (median of 3, interleaved) | of the bound | of model-only |", "|---|---|---|---|",
        f"| one frame at a time, ONNX Runtime on all cores (before; `--threads N`) | {fs:.1f} | {fs / bound:.2f} | "
        f"{fs / model_fps:.2f} |",
        f"| {min(cores, 4)} frames in flight, single-threaded sessions (`edgecv run VIDEO` now) | {fo:.1f} | "
        f"{fo / bound:.2f} | {fo / model_fps:.2f} |",
    ]
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
