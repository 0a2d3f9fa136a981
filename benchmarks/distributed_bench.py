"""Ray batch classification and Triton serving against the local `edgecv run`, on one machine.

    python benchmarks/distributed_bench.py [--images 400] [--out benchmarks/results/distributed.md]

resnet18 (random weights: speed does not depend on training) exported by edgecv; N real photos
(scikit-image's bundled pictures, random 640x480 crops saved as JPEG).  Every command is the CLI a
user types, run as a subprocess; img/s is what each command reports for its classification (first
image in to last row out), and the wall time includes start-up (Python, Ray, model load).
Triton: `edgecv serve` with 1, 4 and 16 client threads on 127.0.0.1, one image per request,
tritonclient HTTP, a fixed number of requests per setting.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EDGECV = [sys.executable, "-m", "edgecv.cli"]


def photos(folder: Path, n: int) -> list[Path]:
    import cv2
    from skimage import data

    rng = np.random.default_rng(0)
    sources = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                 "retina", "motorcycle_left", "lily", "eagle", "camera", "moon", "horse", "coins", "brick"):
        try:
            img = np.asarray(getattr(data, name)())
        except Exception:  # noqa: BLE001 - some need pooch downloads
            continue
        img = img[0] if isinstance(img, tuple) else img
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        if img.ndim == 3 and img.shape[-1] in (3, 4):
            img = cv2.resize(img[..., :3].astype(np.uint8), (960, 720))
            sources.append(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    folder.mkdir()
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        y, x = rng.integers(0, 240), rng.integers(0, 320)
        p = folder / f"img_{i:05d}.jpg"
        cv2.imwrite(str(p), src[y:y + 480, x:x + 640], [cv2.IMWRITE_JPEG_QUALITY, 90])
        out.append(p)
    return out


def timed(argv) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{proc.stderr[-2000:]}")
    return wall, proc.stderr


def rate(stderr: str) -> float:
    return float(re.findall(r"([\d.]+) img/s", stderr)[-1])


def serve_throughput(model: Path, paths: list[Path], clients: list[int], requests: int) -> dict[int, float]:
    from edgecv.runtimes.serve.client import TritonImageClient

    proc = subprocess.Popen(EDGECV + ["serve", str(model), "--name", "m", "--http-port", "18800", "--grpc-port",
                                      "18801", "--metrics-port", "18802"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe = TritonImageClient("127.0.0.1:18800", "m")
        deadline = time.monotonic() + 180
        while not probe.ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("edgecv serve did not start")
            time.sleep(0.5)
        blobs = [p.read_bytes() for p in paths]
        probe.infer_bytes(blobs[:4])  # warm-up
        result = {}
        for n in clients:
            per = requests // n
            def work(k):
                with TritonImageClient("127.0.0.1:18800", "m") as c:
                    for j in range(per):
                        c.infer_bytes([blobs[(k * per + j) % len(blobs)]])
            threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            result[n] = per * n / (time.perf_counter() - t)
            print(f"triton {n:2d} clients: {result[n]:.1f} img/s", flush=True)
        return result
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def main():
    import torch

    from edgecv.cpuinfo import cpu_features
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx
    from edgecv.loaders.checkpoint import save_checkpoint
    from edgecv.models import create_model, default_spec

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--requests", type=int, default=192, help="Triton requests per client setting")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "distributed.md")
    a = ap.parse_args()
    cpu = cpu_features()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        torch.manual_seed(0)
        ckpt = save_checkpoint(d / "resnet18.pt", create_model("resnet18", num_classes=1000).eval(),
                               default_spec("resnet18", num_classes=1000))
        model = export_onnx(ckpt, ExportOptions(output=d / "resnet18.onnx")).path
        paths = photos(d / "images", a.images)
        rows = []
        wall, err = timed(EDGECV + ["run", str(model), str(d / "images"), "-o", str(d / "local.jsonl")])
        local = rate(err)
        rows.append(("`edgecv run` (local, decode threads + ORT)", f"{local:.1f}", "1.00", f"{wall:.1f}", "-"))
        print(rows[-1], flush=True)
        for actors in (1, 2):
            wall, err = timed(EDGECV + ["run", str(model), str(d / "images"), "--ray", "--actors", str(actors),
                                        "-o", str(d / f"ray{actors}.parquet")])
            startup = float(re.findall(r"start-up ([\d.]+) s", err)[-1])
            first = float(re.findall(r"first row after ([\d.]+) s", err)[-1])
            r = float(re.findall(r"([\d.]+) img/s overall", err)[-1])
            steady = float(re.findall(r"([\d.]+) img/s after the first row", err)[-1])
            rows.append((f"`edgecv run --ray --actors {actors}`", f"{r:.1f} ({steady:.1f} after the first row)",
                         f"{r / local:.2f} ({steady / local:.2f})", f"{wall:.1f}", f"{startup:.1f} + {first:.1f}"))
            print(rows[-1], flush=True)
        tput = serve_throughput(model, paths, [1, 4, 16], a.requests)
    lines = [f"# Beyond one machine: Ray and Triton against local `edgecv run` ({a.images} photos, resnet18)", "",
             f"`python benchmarks/distributed_bench.py --images {a.images}`; CPU: {cpu['model']} ({cpu['isa']}), "
             f"{os.cpu_count()} cores; one machine (Ray's local cluster, Triton on 127.0.0.1).", "",
             "| command | img/s (classification) | vs local | wall s (incl. start-up) | Ray init + first row s |",
             "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "`edgecv serve` (Triton via PyTriton, dynamic batching, server-side decode), one image per "
              f"request over HTTP, {a.requests} requests per setting:", "",
              "| concurrent clients | img/s | vs local run |", "|---|---|---|"]
    lines += [f"| {n} | {v:.1f} | {v / local:.2f} |" for n, v in tput.items()]
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
