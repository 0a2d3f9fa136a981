"""`make bench`: the standard set through `edgecv bench`, written to BENCHMARKS.md.

    python benchmarks/standard_bench.py [--seconds 3] [--models sample,resnet18,...] [--out BENCHMARKS.md]

The set: the sample model (trained on scikit-learn's digits; accuracy on all 1,797 of them),
resnet18, mobilenet_v3_small, odconv_resnet18 (kernel_num 4), swin_t and vit_b_16 (random weights:
speed does not depend on training).  Checkpoints are written to benchmarks/.work/ so that every
command in BENCHMARKS.md can be run again as it stands; each model is one `edgecv bench` call
(torch eager and ONNX Runtime interleaved, the floor measured in the same call).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work"
# INT8 candidates are quantized where that takes a minute (the sample on 512 built-in digits, the two
# small CNNs on scikit-image's photos); odconv_resnet18's takes many minutes (benchmarks/results/
# precision.md).  swin_t and vit_b_16 get dynamic INT8 first (`export --int8-activations dynamic`, under
# a minute); with random weights their top-1 margins are ~0.03 logits, so the agreement budget is off
# there (--min-agreement 0; the accuracy evidence is benchmarks/results/transformers.md's trained Swin).
CALIB = {"sample": "digits", "resnet18": "photos", "mobilenet_v3_small": "photos"}
DYNAMIC_INT8 = ("swin_t", "vit_b_16")
SET = {"sample": None, "resnet18": {}, "mobilenet_v3_small": {}, "odconv_resnet18": {"kernel_num": 4},
       "swin_t": {}, "vit_b_16": {}}


def checkpoint(name: str) -> Path:
    if name == "sample":
        return ROOT / "samples" / "digits_fusion_cnn.pt"
    path = WORK / f"{name}.pt"
    if not path.exists():
        import torch

        from edgecv.loaders.checkpoint import save_checkpoint
        from edgecv.models import create_model, default_spec

        torch.manual_seed(0)
        kw = SET[name]
        save_checkpoint(path, create_model(name, num_classes=1000, **kw).eval(),
                        default_spec(name, num_classes=1000, model_kwargs=kw))
    return path


def edgecv(cmd: list[str]) -> subprocess.CompletedProcess:
    """Run ``edgecv ...`` (as written in BENCHMARKS.md) with this interpreter, from the repository root."""
    print("$", " ".join(cmd), flush=True)
    return subprocess.run([sys.executable, "-m", "edgecv.cli", *cmd[1:]], cwd=ROOT, capture_output=True, text=True)


def photos() -> Path:
    """scikit-image's bundled photos as files (calibration and the INT8 check)."""
    if not (WORK / "photos").is_dir():
        from precision_bench import photo_dir

        photo_dir(WORK)
    return WORK / "photos"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(SET))
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    sections, table, notes = [], [], set()
    cpu = None
    t_all = time.perf_counter()
    for name in a.models.split(","):
        ckpt = checkpoint(name)
        rel = os.path.relpath(ckpt, ROOT)
        cmd = ["edgecv", "bench", rel, "--batch-sizes", a.batch_sizes, "--seconds", str(a.seconds),
               "--plot", f"benchmarks/.work/{name}.png", "--json"]
        if name == "sample":
            cmd += ["--data", "digits"]
        if CALIB.get(name) == "photos":
            photos()
            cmd += ["--calib", "benchmarks/.work/photos"]
        elif CALIB.get(name):
            cmd += ["--calib", CALIB[name]]
        if name in DYNAMIC_INT8:
            photos()
            pre = ["edgecv", "export", rel, "--precision", "int8", "--int8-activations", "dynamic",
                   "--calib", "benchmarks/.work/photos", "--min-agreement", "0"]
            q = edgecv(pre)
            sections.append(f"- `{' '.join(pre)}`" + ("" if q.returncode == 0 else
                                                     f" failed: {q.stderr.strip().splitlines()[-1][:200]}"))
        proc = edgecv(cmd)
        if proc.returncode != 0:
            sections.append(f"- `{' '.join(cmd)}` failed: {proc.stderr.strip().splitlines()[-1][:200]}")
            print(proc.stderr[-2000:], flush=True)
            continue
        res = json.loads(proc.stdout)
        cpu = res["cpu"]
        for r in res["rows"]:
            acc = f"{r['accuracy']:.2%}" if r.get("accuracy") is not None else ""
            low = "≥" if r.get("floor_notes") else ""
            table.append(f"| {name} | {r['candidate']} | {r['batch']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
                         f"{r['images_per_s']:.1f} | {r['speedup']:.2f}x | {r['size_mb']:.1f} | {r['memory_mb']:.0f} | "
                         f"{low}{r['gflops'] or 0:.2f} | {low}{r['floor_ms'] or 0:.2f} | "
                         f"{'≤' if low else ''}{r['x_floor'] or 0:.2f} | {acc} |")
            notes.update(f"{name}: {n}" for n in r.get("floor_notes") or ())
            print(table[-1], flush=True)
        peak = res["rows"][0].get("peak_gflops") if res["rows"] else None
        sections.append(f"- `{' '.join(cmd)}`" + (f" (MatMul peak in this call: {peak:.0f} GFLOP/s fp32)" if peak else "")
                        + "".join(f"\n  - skipped: {s}" for s in res["skipped"]))
    head = (f"# edgecv benchmarks\n\nWritten by `make bench` (`python benchmarks/standard_bench.py`) in "
            f"{(time.perf_counter() - t_all) / 60:.0f} min.\n\n"
            f"Machine: {cpu['model'] if cpu else '?'} ({cpu['isa'] if cpu else '?'}), {os.cpu_count()} cores, "
            f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, "
            f"ONNX Runtime {__import__('onnxruntime').__version__}, torch {__import__('torch').__version__}.\n\n"
            "Each model is one `edgecv bench` call: its candidates (torch eager, ONNX Runtime) timed in interleaved "
            "rounds, so a speed-up is a ratio measured side by side.  *floor* = the model's FLOPs (Conv/MatMul/Gemm "
            "counted from the ONNX graph) over this machine's MatMul peak measured in the same call (fp32; u8 x s8 "
            "for int8); *x floor* = p50 / floor (near 1: compute-bound at the cores' MatMul speed).  *mem* = resident "
            "memory the candidate added when loaded and first run (torch eager includes importing torch).  "
            "Weights are random except the sample model's.  INT8 is quantized here (`--calib`) for the sample "
            "(512 built-in digits), resnet18 and mobilenet_v3_small (scikit-image's photos), static QDQ chosen by "
            "measurement; swin_t and vit_b_16 get dynamic INT8 (MatMuls only; with random weights their agreement "
            "budget is off, see benchmarks/results/transformers.md for a trained Swin); odconv_resnet18's "
            "quantization takes many minutes: its INT8 result is in benchmarks/results/precision.md.\n\n"
            "| model | candidate | batch | p50 ms | p95 ms | images/s | speed-up vs eager | MB | mem MB | "
            "GFLOPs/img | floor ms | x floor | accuracy |\n|" + "---|" * 13 + "\n")
    if notes:
        table.append("\n≥ / ≤: some FLOPs could not be counted (inside Loop / If bodies, or ops without static shapes), so the floor is a lower bound "
                     "(" + "; ".join(sorted(notes)) + ").")
    text = head + "\n".join(table) + "\n\n## Commands\n\n" + "\n".join(sections) + "\n"
    tmp = a.out.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(a.out)
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
