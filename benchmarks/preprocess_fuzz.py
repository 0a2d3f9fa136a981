"""Differential preprocessing fuzz, measured: every pipeline edgecv claims to reproduce (torchvision v1 / v2,
timm's eval transform, Hugging Face image processors in both backends) against edgecv's deploy side on
hostile images (odd and even margins, smaller than the crop, much larger, grey, RGBA, palette, 16-bit,
EXIF-tagged, JPEG).  The material is tests/preprocess_sources.py, the same the test suite fuzzes with.

    python benchmarks/preprocess_fuzz.py                 # 20 configurations x 10 images per source
    python benchmarks/preprocess_fuzz.py --configs 5 --images 4

Per source: comparisons, the worst and the 99th-percentile difference in grey levels (the difference
times std times 255, so 1.0 is one level of an 8-bit image), how many were exact, how many over one
grey level, and, as a control, the worst difference when the deploy side uses the *other* Pillow
resampling pass order (which shows that the rule edgecv records is the one that matters).
Writes benchmarks/results/preprocess_fuzz.md.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
REPORT = HERE / "results" / "preprocess_fuzz.md"
TOLERANCE = 1.0 + 1e-3


def fuzz_source(ps, name: str, configs: int, images: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(zlib.crc32(name.encode()) + seed)
    diffs, swapped, shapes = [], [], 0
    for _ in range(configs):
        spec, pipeline = ps.SOURCES[name](rng)
        other = replace(spec, resampler={"pillow12": "pillow13", "pillow13": "pillow12"}.get(spec.resampler,
                                                                                            spec.resampler))
        for _ in range(images):
            h, w = ps.random_size(rng, spec.input_size[0])
            mode = ps.MODES[int(rng.integers(0, len(ps.MODES)))]
            data = ps.encoded_image(rng, h, w, mode)
            g = ps.compare(spec, pipeline, data)
            shapes += g == float("inf")
            diffs.append(g)
            if other.resampler != spec.resampler:
                swapped.append(ps.compare(other, pipeline, data))
    d = np.asarray(diffs)
    finite = d[np.isfinite(d)]
    return {"n": len(d), "max": float(d.max()), "p99": float(np.percentile(finite, 99)) if finite.size else None,
            "exact": int((d == 0).sum()), "over": int((d > TOLERANCE).sum()), "shape_mismatch": shapes,
            "swapped_max": float(max(swapped)) if swapped else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=20)
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--only", help="sources whose name contains this")
    args = ap.parse_args()

    import PIL

    import preprocess_sources as ps
    import timm
    import torch
    import torchvision
    import transformers

    rows, t0 = [], time.perf_counter()
    for name in ps.SOURCES:
        if args.only and args.only not in name:
            continue
        r = fuzz_source(ps, name, args.configs, args.images)
        rows.append((name, r))
        print(f"{name:<46} n={r['n']:4d} max={r['max']:.3f} over={r['over']}", flush=True)
    total = sum(r["n"] for _, r in rows)
    over = sum(r["over"] for _, r in rows)
    lines = [
        "# Preprocessing fuzz: each source's own pipeline against edgecv's deploy side", "",
        f"`python benchmarks/preprocess_fuzz.py --configs {args.configs} --images {args.images}`  ",
        f"{total} comparisons in {time.perf_counter() - t0:.0f} s; {over} over one grey level.  ",
        f"Pillow {PIL.__version__}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"timm {timm.__version__}, transformers {transformers.__version__}, numpy {np.__version__}, "
        f"{platform.machine()}.", "",
        "Grey levels: |source - edgecv| x std x 255, the worst element of the (C, H, W) tensor.  Each "
        "configuration is a random crop (8-71 px), resize, interpolation and normalisation; each image a "
        "random size (1 px up to the crop, up to 4x the crop, or up to 1200 px a side) and mode (RGB, L, RGBA, P, I;16, "
        "EXIF-rotated, JPEG).  *Other pass order*: the worst difference when the deploy side resamples "
        "in the other Pillow version's pass order (a control: blank where the source does not resample "
        "with Pillow).", "",
        "| source | images | worst | p99 | identical tensors | over 1 level | other pass order, worst |",
        "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows:
        swapped = "" if r["swapped_max"] is None else f"{r['swapped_max']:.2f}"
        lines.append(f"| {name} | {r['n']} | {r['max']:.3f} | {r['p99']:.3f} | {r['exact']} | {r['over']} | "
                     f"{swapped} |")
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {REPORT}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
