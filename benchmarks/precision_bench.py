"""fp32 / int8 / fp16 side by side in ONNX Runtime (CPU), per model, with the CPU's instruction set.

    python benchmarks/precision_bench.py [--models digits,resnet18,...] [--out benchmarks/results/precision.md]

Each model is exported by edgecv (fp32, dynamic batch), quantized with `--precision int8`'s code
(calibration: scikit-image's photos + samples/photos through the deploy preprocessing; the digits
model: 300 real labelled digits), converted to fp16, then timed at batch 1 in alternation
(median of each).  Weights are random except the digits sample model (trained): for those the
agreement numbers are a stress test (near-uniform logits flip easily), not an accuracy claim.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"digits": None, "resnet18": {}, "resnet50": {}, "mobilenet_v3_small": {},
          "odconv_resnet18": {"kernel_num": 4}, "swin_t": {}, "vit_b_16": {}}


def photo_dir(d: Path) -> Path:
    from PIL import Image
    from skimage import data

    out = d / "photos"
    out.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                 "retina", "colorwheel", "camera", "moon", "horse", "cat", "coins", "brick", "grass",
                 "gravel", "text", "page", "clock", "motorcycle_left", "motorcycle_right", "stereo_motorcycle",
                 "lily", "kidney", "cell", "logo", "eagle", "skin"):
        try:
            img = getattr(data, name)()
        except Exception:  # noqa: BLE001 - some need pooch downloads
            continue
        img = img[0] if isinstance(img, tuple) else img
        if img.ndim == 3 and img.shape[-1] > 4:  # 3-D volumes
            continue
        Image.fromarray(np.asarray(img)).convert("RGB").save(out / f"{name}.png")
    return out


def digits_dir(d: Path) -> Path:
    from PIL import Image

    from edgecv.training.data import _stratified_split, load_builtin

    imgs, targets, labels = load_builtin("digits")
    _, val = _stratified_split(targets, 0.2, 0)
    root = d / "digits"
    for i in list(val)[:300]:
        (root / labels[targets[i]]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(imgs[i]), mode="L").save(root / labels[targets[i]] / f"{i:04d}.png")
    return root


def main():
    import torch

    from edgecv.cpuinfo import cpu_features
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx
    from edgecv.exporters.precision.fp16 import convert_fp16
    from edgecv.exporters.precision.int8 import Int8Options, _session, quantize_int8, time_ms
    from edgecv.loaders.checkpoint import save_checkpoint
    from edgecv.models import create_model, default_spec

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "precision.md")
    a = ap.parse_args()
    cpu = cpu_features()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        photos, digits = photo_dir(d), digits_dir(d)
        for name in a.models.split(","):
            if name == "digits":
                ckpt, calib = ROOT / "samples" / "digits_fusion_cnn.pt", digits
            else:
                torch.manual_seed(0)
                kw = MODELS[name]
                ckpt = save_checkpoint(d / f"{name}.pt", create_model(name, num_classes=1000, **kw).eval(),
                                       default_spec(name, num_classes=1000, model_kwargs=kw))
                calib = photos
            t = time.perf_counter()
            fp32 = export_onnx(ckpt, ExportOptions(output=d / f"{name}.onnx")).path
            export_s = time.perf_counter() - t
            t = time.perf_counter()
            try:
                q = quantize_int8(fp32, d / f"{name}.int8.onnx", Int8Options(calib=calib, bench_seconds=1.0))
                int8_path, kept = q.path, q.chosen
                int8_note = (f"{q.chosen.activations}, agreement {q.chosen.agreement:.0%}"
                             + (f", acc {q.chosen.accuracy:.1%} vs {q.fp32_accuracy:.1%}" if q.chosen.accuracy is not None else "")
                             + (f", {len(kept.kept_fp32)} nodes fp32" if kept.kept_fp32 else "")
                             + f"; tried {', '.join(f'{x.activations} {x.agreement:.0%}' for x in q.attempts)}")
            except Exception as e:  # noqa: BLE001 - report it, keep benchmarking the rest
                int8_path, int8_note = None, f"not quantized: {str(e).splitlines()[0][:120]}"
            quant_s = time.perf_counter() - t
            convert_fp16(fp32, d / f"{name}.fp16.onnx")
            sessions = [_session(fp32)] + ([_session(int8_path)] if int8_path else []) + [_session(d / f"{name}.fp16.onnx")]
            inp = sessions[0].get_inputs()[0]
            c, h, w = inp.shape[1:]
            x1 = np.random.default_rng(0).standard_normal((1, c, h, w)).astype(np.float32)
            ms = time_ms(sessions, x1, a.seconds)
            fp32_ms, fp16_ms = ms[0], ms[-1]
            int8_ms = ms[1] if int8_path else float("nan")
            rows.append((name, f"{fp32_ms:.2f}", f"{int8_ms:.2f}", f"{fp32_ms / int8_ms:.2f}x" if int8_path else "-",
                         f"{fp16_ms:.2f}", int8_note, f"{export_s:.0f} s / {quant_s:.0f} s"))
            print(rows[-1], flush=True)
    head = ("| model | fp32 ms | int8 ms | int8 speed-up | fp16 ms (CPU) | int8: chosen activations, held-out check, attempts "
            "| export / quantize time |")
    text = (f"# fp32 / int8 / fp16 in ONNX Runtime {__import__('onnxruntime').__version__} (CPU), batch 1\n\n"
            f"`python benchmarks/precision_bench.py`, CPU: {cpu['model']} ({cpu['isa']}), "
            f"{__import__('os').cpu_count()} cores.\n\n" + head + "\n|" + "---|" * 7 + "\n"
            + "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
