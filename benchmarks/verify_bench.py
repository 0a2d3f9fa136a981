"""Timing of `edgecv verify`: swin_t with defaults (export + all checks), and per-layer
localisation on resnet50 (a perturbed late weight, so the search walks most of the graph).

    python benchmarks/verify_bench.py
Writes benchmarks/results/verify_bench.json.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import torch

from edgecv.loaders.checkpoint import save_checkpoint
from edgecv.exporters.onnx_export import ExportOptions, export_onnx
from edgecv.verification.layerwise import first_divergence
from edgecv.models import create_model, default_spec
from edgecv.verification import verify


def main():
    tmp = Path(tempfile.mkdtemp())
    res = {}
    torch.manual_seed(0)
    ck = save_checkpoint(tmp / "swin_t.pt", create_model("swin_t").eval(), default_spec("swin_t"))
    t = time.perf_counter()
    r = verify(ck)
    res["verify_swin_t_defaults_s"] = time.perf_counter() - t
    res["verify_swin_t_passed"] = bool(r)

    torch.manual_seed(0)
    model = create_model("resnet50").eval()
    ck = save_checkpoint(tmp / "resnet50.pt", model, default_spec("resnet50"))
    onnx_path = export_onnx(ck, ExportOptions(output=tmp / "r50.onnx", validate=False)).path
    m = onnx.load(onnx_path)
    init = next(i for i in m.graph.initializer if "layer4.2.conv2.weight" in i.name or "layer4_2_conv2_weight" in i.name)
    init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) * np.float32(1.01), init.name))
    onnx.save(m, tmp / "bad.onnx")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    t = time.perf_counter()
    d = first_divergence(tmp / "bad.onnx", model, x)
    res["per_layer_resnet50_s"] = time.perf_counter() - t
    res["per_layer_resnet50_found"] = d.describe() if d else None
    res["per_layer_resnet50_modules_compared"] = d.compared if d else None
    print(json.dumps(res, indent=1))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "verify_bench.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
