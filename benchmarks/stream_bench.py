"""Stream numbers, side by side in one run.

    python benchmarks/stream_bench.py [--soak-frames 50000]

1. End-to-end FPS of `run_stream` on a 1280x720 video (decode in the capture thread, preprocess,
   infer, overlay) vs model-only throughput at batch 1, for the sample model and resnet18, plus
   capture-to-result latency p50/p95 from an MJPEG stream served at 30 FPS on 127.0.0.1.
2. Soak: N frames from a looping source (the video, rewound), RSS before/after (goal < 20 MB growth).
Writes benchmarks/results/stream_bench.json.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the edgecv CLI sets it

import argparse  # noqa: E402
import json  # noqa: E402
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from edgecv.runtimes.bench import time_batches  # noqa: E402
from edgecv.runtimes.streams.capture import Source  # noqa: E402
from edgecv.runtimes.streams.loop import StreamOptions, run_stream  # noqa: E402
from edgecv.runtimes import load  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def make_video(path: Path, n=120):
    from edgecv.assets import sample_photos

    photos = [cv2.resize(cv2.imread(str(p)), (1280, 720)) for p in sample_photos()]
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (1280, 720))
    for i in range(n):
        w.write(photos[(i // 10) % len(photos)])
    w.release()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--soak-frames", type=int, default=50000)
    a = ap.parse_args()
    import torch

    from edgecv.loaders.checkpoint import save_checkpoint
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx
    from edgecv.models import create_model, default_spec

    root = Path(__file__).resolve().parents[1]
    tmp = Path(tempfile.mkdtemp())
    sample = export_onnx(root / "samples/digits_fusion_cnn.pt", ExportOptions(output=tmp / "digits.onnx")).path
    torch.manual_seed(0)
    ck = save_checkpoint(tmp / "r18.pt", create_model("resnet18").eval(), default_spec("resnet18"))
    r18 = export_onnx(ck, ExportOptions(output=tmp / "r18.onnx")).path
    video = tmp / "720p.avi"
    make_video(video)
    devnull = open(os.devnull, "w")
    res = {"fps": []}
    for model in (sample, r18):
        with load(model) as rt:
            t = np.asarray(time_batches(rt, 1, 3.0))
            model_fps = len(t) / t.sum()
            s = run_stream(rt, Source(str(video)), StreamOptions(show=False, json_lines=False), out=devnull)
            from mjpeg_server import MJPEGServer

            frames = [cv2.resize(cv2.imread(str(p)), (1280, 720)) for p in sorted((root / "samples/photos").glob("*.jpg"))]
            with MJPEGServer(frames, fps=30, loop=True) as srv:
                live = run_stream(rt, Source(srv.url), StreamOptions(show=False, duration=5), out=devnull).to_dict()
            res["fps"].append({"model": model.name, "model_only_fps_b1": model_fps, "e2e_fps_720p_file": s.fps,
                               "ratio": s.fps / model_fps, "model_ms_p50": float(np.median(t) * 1e3),
                               "live_30fps_latency_ms_p50": live["latency_ms_p50"],
                               "live_30fps_latency_ms_p95": live["latency_ms_p95"],
                               "live_fps": live["fps"], "live_dropped": live["dropped"]})
        print(json.dumps(res["fps"][-1]), flush=True)
    with load(sample) as rt:
        warm = run_stream(rt, Source(str(video), loop=True), StreamOptions(show=False, max_frames=500), out=devnull)
        before = rss_mb()
        t0 = time.perf_counter()
        s = run_stream(rt, Source(str(video), loop=True), StreamOptions(show=False, max_frames=a.soak_frames),
                       out=devnull)
        after = rss_mb()
    res["soak"] = {"frames": s.frames, "seconds": time.perf_counter() - t0, "rss_before_mb": before,
                   "rss_after_mb": after, "rss_growth_mb": after - before, "warmup_frames": warm.frames}
    print(json.dumps(res["soak"]))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "stream_bench.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
