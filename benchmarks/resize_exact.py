"""The deploy side's resize against Pillow's, pixel for pixel, and what exactness costs.

    python benchmarks/resize_exact.py

Part 1: 300 random resizes (sizes 5-900 px to 4-700 px, noise and smooth images), edgecv's
``resize_crop_chw`` against ``PIL.Image.resize`` of the installed Pillow: pixels that differ, per
interpolation.  Part 2: ``Preprocessor`` latency per frame with bicubic passes exact (the float32
MatMul plus a float64 redo of the sums near a rounding boundary) and all-float32, side by side in one
run (best of 3 rounds of 1 s).  Writes benchmarks/results/resize_exact.md.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPORT = HERE / "results" / "resize_exact.md"


def differing(n: int = 300) -> dict[str, tuple[int, int, float]]:
    from PIL import Image

    from edgecv.loaders.pipelines import installed_resampler
    from edgecv.runtimes.pipeline.preprocess import resize_crop_chw

    rng = np.random.default_rng(1)
    out: dict[str, list] = {"bilinear": [0, 0, 0.0], "bicubic": [0, 0, 0.0]}
    for i in range(n):
        h, w = int(rng.integers(5, 900)), int(rng.integers(5, 900))
        oh, ow = int(rng.integers(4, 700)), int(rng.integers(4, 700))
        interp = ("bilinear", "bicubic")[i % 2]
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 3 == 0:
            yy, xx = np.mgrid[0:h, 0:w]
            img = np.stack([(xx * 7 + yy * 3) % 256, (xx * xx // 7) % 256, (yy * 5) % 256], 2).astype(np.uint8)
        ref = np.asarray(Image.fromarray(img).resize((ow, oh), getattr(Image, interp.upper())))
        ours = resize_crop_chw(img, (oh, ow), (oh, ow), interp, resampler=installed_resampler())
        d = np.abs(ref.transpose(2, 0, 1).astype(np.float32) - ours)
        out[interp][0] += d.size
        out[interp][1] += int((d > 0).sum())
        out[interp][2] = max(out[interp][2], float(d.max()))
    return {k: tuple(v) for k, v in out.items()}


def latency() -> list[tuple]:
    import edgecv.runtimes.pipeline.preprocess as P
    from edgecv.spec import ModelSpec

    rng = np.random.default_rng(0)
    rows = []
    for (h, w), interp in [((480, 640), "bicubic"), ((1080, 1920), "bicubic"), ((1080, 1920), "bilinear")]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        spec = ModelSpec(arch="x", num_classes=2, input_size=(224, 224), resize=256, interpolation=interp)
        res: dict[str, list] = {"exact": [], "float32": []}
        for _ in range(3):
            for name, exact in (("float32", ()), ("exact", (interp,))):
                P.EXACT = exact
                P._plan.cache_clear()
                pre = P.Preprocessor(spec)
                pre(img)
                t, n = time.perf_counter(), 0
                while time.perf_counter() - t < 1.0:
                    pre(img)
                    n += 1
                res[name].append((time.perf_counter() - t) / n * 1e3)
        P.EXACT = ("bilinear", "bicubic")
        P._plan.cache_clear()
        rows.append((f"{w}x{h}", interp, min(res["float32"]), min(res["exact"])))
    return rows


def main() -> int:
    import PIL

    diffs = differing()
    rows = latency()
    lines = ["# The deploy resize against Pillow", "", f"`python benchmarks/resize_exact.py`, Pillow {PIL.__version__}, "
             "1 thread (`OMP_NUM_THREADS=1`).", "", "| interpolation | pixels compared | differing | worst |",
             "|---|---:|---:|---:|"]
    lines += [f"| {k} | {n} | {bad} | {worst:g} |" for k, (n, bad, worst) in diffs.items()]
    lines += ["", "Latency per frame (decode excluded) to a 224 crop of a 256 resize, the float32 MatMul alone "
              "against the exact passes (float32, then float64 for the sums near a rounding boundary):", "",
              "| frame | interpolation | float32 ms | exact ms | exact / float32 |", "|---|---|---:|---:|---:|"]
    lines += [f"| {f} | {i} | {a:.2f} | {b:.2f} | {b / a:.2f} |" for f, i, a, b in rows]
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
