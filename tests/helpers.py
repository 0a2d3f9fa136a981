"""Small shared helpers for tests (export to ONNX in memory, run in ONNX Runtime)."""
import numpy as np
import onnxruntime as ort
import torch


def export_proto(model, example, dynamic=True, exporter="dynamo"):
    from edgecv.exporters.onnx_export import _export_one
    from edgecv.exporters.scan_conv import expand_scan_nodes

    torch._dynamo.reset()
    art = _export_one(model, example, dynamic, None, exporter)
    if hasattr(art, "optimize"):
        art.optimize()
    proto = getattr(art, "model_proto", art)
    expand_scan_nodes(proto)
    return proto


def ort_run(proto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def rel_err(ref, got) -> float:
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.abs(ref - got).max() / (np.abs(ref).max() or 1.0))
