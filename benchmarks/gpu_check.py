"""What a CUDA device changes, measured on one (no TensorRT needed):

1. torch on CUDA against torch on CPU (fp32, random weights, one batch of 8): max relative error with
   cuDNN's TF32 convolutions on (torch's default) and off, and through edgecv's torch reference;
2. ``edgecv verify`` of a checkpoint and its ONNX export, where the torch rows now include torch/cuda;
3. ``edgecv run`` on the sample digits with the torch backend picking the GPU by itself.

    python benchmarks/gpu_check.py            # on a machine with a CUDA device; prints one block per step

Writes nothing outside a temporary folder.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def cpu_vs_cuda() -> None:
    from edgecv.loaders.reference import TorchReference
    from edgecv.models import create_model, default_spec

    for arch in ("resnet18", "vit_b_16", "odconv_msff_net", "swin_t"):
        torch.manual_seed(0)
        model = create_model(arch, num_classes=10).eval()
        spec = default_spec(arch, num_classes=10)
        x = torch.randn(8, spec.channels, *spec.input_size)
        with torch.no_grad():
            ref = model(x).numpy()
            row = {"model": arch, "cpu_nan": int(np.isnan(ref).sum())}
            gpu = model.cuda()
            for tf32 in (True, False):
                torch.backends.cudnn.allow_tf32 = tf32
                got = gpu(x.cuda()).float().cpu().numpy()
                row[f"cuda_tf32_{'on' if tf32 else 'off'}_max_rel"] = _rel(got, ref)
                row[f"cuda_tf32_{'on' if tf32 else 'off'}_nan"] = int(np.isnan(got).sum())
            torch.backends.cudnn.allow_tf32 = True  # torch's default: edgecv's reference turns it off itself
        row["edgecv_reference_cuda_max_rel"] = _rel(TorchReference(gpu, device="cuda")(x.numpy()), ref)
        print(json.dumps(row), flush=True)


def _rel(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.nanmax(np.abs(got - ref)) / np.nanmax(np.abs(ref)))


def verify_with_cuda(tmp: Path) -> None:
    import edgecv

    sample = ROOT / "samples" / "digits_fusion_cnn.pt"
    onnx = tmp / "digits.onnx"
    edgecv.export(sample, onnx, say=lambda *a: None)
    images = sorted((ROOT / "samples" / "digits").rglob("*.png"))[:20]
    res = edgecv.verify(sample, [sample, onnx], images=images)
    for r in res.rows:
        print(json.dumps({"candidate": Path(r.candidate).name, "runtime": r.runtime, "status": r.status,
                          "max_rel": r.max_rel, "top1": r.top1, "e2e_top1": r.e2e_top1, "reason": r.reason}),
              flush=True)
    print("verify:", "pass" if res else "FAIL", flush=True)


def run_on_gpu() -> None:
    import edgecv

    sample = ROOT / "samples" / "digits_fusion_cnn.pt"
    images = sorted((ROOT / "samples" / "digits").rglob("*.png"))[:8]
    with edgecv.load(sample) as rt:
        res = rt.classify(images, topk=1)
        print(json.dumps({"runtime": rt.name, "top1": [r.topk[0]["label"] for r in res],
                          "truth": [p.parent.name for p in images]}), flush=True)


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check", file=sys.stderr)
        return 2
    print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}), flush=True)
    cpu_vs_cuda()
    with tempfile.TemporaryDirectory() as tmp:
        verify_with_cuda(Path(tmp))
    run_on_gpu()
    return 0


if __name__ == "__main__":
    sys.exit(main())
