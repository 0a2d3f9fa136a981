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
        "labels": spec.labels if spec else [], "spec": spec.to_dict() if spec else None,
    }
