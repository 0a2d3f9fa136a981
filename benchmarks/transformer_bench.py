"""Transformers before and after: swin_t and vit_b_16 as torch eager, ONNX Runtime fp32 as exported
before the swin_windows pass, fp32 as exported now, and INT8 "dynamic", all in one interleaved
`bench_candidates` call per model (the floor measured in the same call); then what dynamic INT8 does
to a *trained* Swin's answers (a small torchvision Swin trained here on scikit-learn's digits).

    python benchmarks/transformer_bench.py [--models swin_t,vit_b_16] [--seconds 6] [--epochs 12]
    -> benchmarks/results/transformers.md

swin_t / vit_b_16 have random weights (speed does not depend on training; their top-1 margins are
~0.03 logits, so agreement on 22 photos says little: the quantizer is run with --min-agreement 0 and
the number is only reported).  The accuracy evidence is the trained Swin.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "transformers"
sys.path.insert(0, str(ROOT / "benchmarks"))


@contextlib.contextmanager
def without_trace_pass(name: str):
    from edgecv.exporters import passes

    saved = list(passes.TRACE_CONTEXTS)
    passes.TRACE_CONTEXTS[:] = [p for p in saved if p[0] != name]
    try:
        yield
    finally:
        passes.TRACE_CONTEXTS[:] = saved


def speed(name: str, seconds: float) -> tuple[list[str], str]:
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx
    from edgecv.exporters.precision.int8 import Int8Options, quantize_int8
    from edgecv.runtimes.bench import Candidate, bench_candidates
    from standard_bench import checkpoint, photos

    ckpt = checkpoint(name)
    after = export_onnx(ckpt, ExportOptions(output=WORK / f"{name}.onnx")).path
    cands = [Candidate(ckpt, "torch", group=name, label="torch eager", flops_from=after)]
    if name.startswith("swin"):
        with without_trace_pass("swin_windows"):
            before = export_onnx(ckpt, ExportOptions(output=WORK / "before" / f"{name}.onnx")).path
        cands.append(Candidate(before, "onnxruntime", group=name, label="ORT fp32, export without swin_windows",
                               flops_from=after))
    cands.append(Candidate(after, "onnxruntime", group=name, label="ORT fp32, export now", flops_from=after))
    t = time.perf_counter()
    q = quantize_int8(after, WORK / f"{name}.int8.onnx",
                      Int8Options(calib=photos(), activations="dynamic", min_agreement=0.0, bench_seconds=1.0))
    note = (f"{name}: dynamic INT8 quantized in {time.perf_counter() - t:.0f} s; top-1 agreement with fp32 on the "
            f"22 photos {q.chosen.agreement:.0%} (random weights: reported, not a budget)")
    cands.append(Candidate(q.path, "onnxruntime", group=name, label="ORT int8 dynamic", flops_from=after))
    from edgecv.runtimes.floor import peak_gflops

    peak_gflops.cache_clear()  # each model's call measures its own peak
    rows = bench_candidates(cands, batches=(1, 8), seconds=seconds, rounds=8)
    lines = []
    for r in rows:
        low = "≥" if r.get("floor_notes") else ""
        lines.append(f"| {name} | {r['candidate']} | {r['batch']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                     f"{r['speedup']:.2f}x | {r['size_mb']:.0f} | {low}{r['floor_ms']:.1f} | "
                     f"{'≤' if low else ''}{r['x_floor']:.2f} | {r['peak_gflops']:.0f} |")
        print(lines[-1], flush=True)
    return lines, note


def trained_swin(epochs: int) -> str:
    """Train a small torchvision Swin on digits (32x32 RGB), then fp32 vs dynamic INT8 on all 1,797."""
    import numpy as np
    import torch
    from PIL import Image
    from torchvision.models.swin_transformer import SwinTransformer

    from edgecv.exporters.trace import export_graph
    from edgecv.exporters.passes.swin import swin_windows
    from edgecv.training.data import _stratified_split, load_builtin

    imgs, targets, _ = load_builtin("digits")
    x = np.stack([(np.asarray(Image.fromarray(i).convert("RGB").resize((32, 32), Image.BILINEAR), np.float32) / 255
                   - 0.5).transpose(2, 0, 1) / 0.5 for i in imgs]).astype(np.float32)
    tr, va = _stratified_split(targets, 0.2, 0)
    X, Y = torch.from_numpy(x), torch.as_tensor(targets)
    torch.manual_seed(0)
    m = SwinTransformer(patch_size=[2, 2], embed_dim=48, depths=[2, 2], num_heads=[3, 6], window_size=[4, 4],
                        num_classes=10, stochastic_depth_prob=0.0)
    steps = epochs * (len(tr) // 64)
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    g = torch.Generator().manual_seed(0)
    tr_t = torch.as_tensor(tr)
    t0 = time.perf_counter()
    for _ in range(steps):
        i = tr_t[torch.randint(len(tr_t), (64,), generator=g)]
        loss = torch.nn.functional.cross_entropy(m(X[i]), Y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    m.eval()
    train_s = time.perf_counter() - t0
    torch._dynamo.reset()
    with swin_windows():
        prog = export_graph(m, X[:2], True, None, "dynamo")
    prog.optimize()
    fp32 = WORK / "tiny_swin.fp32.onnx"
    prog.save(str(fp32))
    import onnxruntime as ort
    from onnxruntime.quantization import quant_pre_process

    from edgecv.exporters.precision.int8 import quantize_matmuls_dynamic

    pre, q = WORK / "tiny_swin.pre.onnx", WORK / "tiny_swin.int8.onnx"
    quant_pre_process(str(fp32), str(pre))
    quantize_matmuls_dynamic(pre, q)  # what `export --int8-activations dynamic` runs

    def logits(p):
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        return np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i:i + 128]})[0] for i in range(0, len(x), 128)])

    a, b = logits(fp32), logits(q)
    va = np.asarray(va)
    return (f"Trained Swin (torchvision SwinTransformer: patch 2, embed 48, depths 2+2, heads 3+6, window 4; "
            f"{sum(p.numel() for p in m.parameters()) / 1e6:.2f} M parameters; {epochs} epochs on 1,437 digits in "
            f"{train_s:.0f} s): validation accuracy fp32 {np.mean(a[va].argmax(1) == targets[va]):.2%} / dynamic "
            f"INT8 {np.mean(b[va].argmax(1) == targets[va]):.2%}; top-1 agreement on all 1,797 digits "
            f"{np.mean(a.argmax(1) == b.argmax(1)):.2%}; max |logit difference| {np.abs(a - b).max():.3f} "
            f"(logits span {a.max() - a.min():.1f}).")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="swin_t,vit_b_16")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--epochs", type=int, default=12)
    a = ap.parse_args()
    (WORK / "before").mkdir(parents=True, exist_ok=True)
    from edgecv.cpuinfo import cpu_features

    cpu = cpu_features()
    t_all = time.perf_counter()
    rows, notes = [], []
    for name in a.models.split(","):
        lines, note = speed(name, a.seconds)
        rows += lines
        notes.append(note)
    accuracy = trained_swin(a.epochs) if a.epochs else "not run (--epochs 0)"
    print(accuracy, flush=True)
    import onnxruntime
    import torch

    text = (f"# Transformers: export passes and dynamic INT8 against torch eager\n\n"
            f"`python benchmarks/transformer_bench.py --models {a.models} --seconds {a.seconds} --epochs {a.epochs}` "
            f"({(time.perf_counter() - t_all) / 60:.0f} min).  {cpu['model']} ({cpu['isa']}), {os.cpu_count()} cores, "
            f"ONNX Runtime {onnxruntime.__version__}, torch {torch.__version__}.  Per model one interleaved "
            f"`bench_candidates` call (8 rounds); speed-up against torch eager of the same run; floor = FLOPs over "
            f"the MatMul peak of the same call (fp32 peak for fp32 rows, u8 x s8 for int8).\n\n"
            "| model | candidate | batch | p50 ms | p95 ms | speed-up vs eager | MB | floor ms | x floor | "
            "peak GFLOP/s |\n|" + "---|" * 10 + "\n" + "\n".join(rows) + "\n\n"
            + "\n".join(f"- {n}" for n in notes) + f"\n- {accuracy}\n")
    out = ROOT / "benchmarks" / "results" / "transformers.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"-> {out}")


if __name__ == "__main__":
    main()
