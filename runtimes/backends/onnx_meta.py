"""Read the ModelSpec and I/O facts of an ONNX file (deploy side: onnx only, no torch)."""
from __future__ import annotations

from pathlib import Path

from edgecv.errors import EdgecvError
from edgecv.spec import METADATA_KEY, ModelSpec


def _load(path: Path):
    import onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError and friends
        raise EdgecvError(f"{path} is not a readable ONNX model ({type(e).__name__})",
                          "re-export it with `edgecv export`") from None


def _dims(vi) -> list:
    return [d.dim_param or d.dim_value or "?" for d in vi.type.tensor_type.shape.dim]


def read_spec(path) -> ModelSpec | None:
    model = _load(Path(path))
    props = {p.key: p.value for p in model.metadata_props}
    return ModelSpec.from_json(props[METADATA_KEY]) if METADATA_KEY in props else None


def describe_onnx(path) -> dict:
    import onnx

    path = Path(path)
    model = _load(path)
    props = {p.key: p.value for p in model.metadata_props}
    spec = ModelSpec.from_json(props[METADATA_KEY]) if METADATA_KEY in props else None
    elem = onnx.helper.tensor_dtype_to_np_dtype
    return {
        "file": str(path), "kind": "onnx", "size_bytes": path.stat().st_size,
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [{"name": i.name, "shape": _dims(i), "dtype": str(elem(i.type.tensor_type.elem_type))}
                   for i in model.graph.input],
        "outputs": [{"name": o.name, "shape": _dims(o), "dtype": str(elem(o.type.tensor_type.elem_type))}
                    for o in model.graph.output],
        "nodes": len(model.graph.node),
        "arch": spec.arch if spec else None, "num_classes": spec.num_classes if spec else None,
        "labels": spec.labels if spec else [],
        "preprocessing": spec.describe_sources() if spec else None, "scores": spec.scores if spec else None,
        "spec": spec.to_dict() if spec else None,
    }


def node_module(node) -> str | None:
    """The qualified torch module name an ONNX node came from ('' for the root), or None if unknown:
    the dynamo exporter's ``pkg.torch.onnx.name_scopes``, or the TorchScript exporter's node path."""
    import ast

    for p in node.metadata_props:
        if p.key == "pkg.torch.onnx.name_scopes":
            try:
                scopes = ast.literal_eval(p.value)
            except (ValueError, SyntaxError):
                return None
            return scopes[-2] if len(scopes) >= 2 else ""
    if node.name.startswith("/"):  # TorchScript exporter: /layer1/layer1.0/conv1/Mul
        mod = ""
        for part in node.name.strip("/").split("/")[:-1]:
            mod = part if not mod or part.startswith(mod + ".") else f"{mod}.{part}"
        return mod
    return None


INT8_OPS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger")


def onnx_precision(path) -> str:
    """``int8`` (quantized ops or Q/DQ), ``fp16`` (fp16 weights) or ``fp32``, read from the graph."""
    import onnx

    m = _load(Path(path))
    if any(n.op_type in INT8_OPS for n in m.graph.node):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer):
        return "fp16"
    return "fp32"
