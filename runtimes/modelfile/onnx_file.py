"""Read the ModelSpec and I/O facts of an ONNX file (deploy side: onnx only, no torch).

An ONNX file is input from a stranger too: ``load_model_proto`` refuses one without a graph (an empty
or foreign file parses as an empty model), and tensors whose external data lies outside the model's
folder or past the end of their data file, before any of that data is read.
"""
from __future__ import annotations

import os
from pathlib import Path

from edgecv.errors import EdgecvError
from edgecv.spec import METADATA_KEY, ModelSpec


def load_model_proto(path) -> "onnx.ModelProto":  # noqa: F821
    """The graph of an ONNX file without its external data, checked (see the module doc)."""
    import onnx

    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError and friends
        raise EdgecvError(f"{path} is not a readable ONNX model ({type(e).__name__})",
                          "re-export it with `edgecv export`") from None
    if not model.graph.node or not model.graph.input or not model.graph.output:
        raise EdgecvError(f"{path} is not an ONNX model (no graph: an empty file, or a file of another kind)",
                          "re-export it with `edgecv export`")
    check_external_data(model, path)
    return model


_load = load_model_proto


def _tensors(graph):
    """Every tensor a graph holds: initializers, and constants in node attributes and subgraphs."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for g in attr.graphs:
                yield from _tensors(g)


def check_external_data(model, path: Path) -> None:
    """Each external tensor's file must sit inside the model's folder (no absolute path, no ``..``, no
    link out of it) and hold the bytes the tensor declares; else one line naming the tensor."""
    import onnx

    folder = Path(path).resolve().parent
    for t in _tensors(model.graph):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        where = info.get("location", "")
        target = (folder / where).resolve()
        if not where or os.path.isabs(where) or ".." in Path(where).parts or not target.is_relative_to(folder):
            raise EdgecvError(f"{path}: tensor {t.name} keeps its data in {where!r}, outside the model's folder; "
                              "not read", "external data must be a file beside the model")
        if not target.is_file():
            raise EdgecvError(f"{path}: tensor {t.name}'s data file {where} is missing",
                              "copy it beside the model")
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
        except ValueError:
            raise EdgecvError(f"{path}: tensor {t.name} has a malformed external-data offset / length") from None
        size = target.stat().st_size
        if offset < 0 or offset > size or (length >= 0 and offset + length > size):
            raise EdgecvError(f"{path}: tensor {t.name} declares {length} bytes at offset {offset} of {where}, "
                              f"which holds {size}; not read", "the model's data file is truncated or forged")


def _dims(vi) -> list:
    return [d.dim_param or d.dim_value or "?" for d in vi.type.tensor_type.shape.dim]


def spec_of(model, path) -> ModelSpec | None:
    """The edgecv spec in a loaded model's metadata, validated; errors name the file."""
    props = {p.key: p.value for p in model.metadata_props}
    return parse_spec(props[METADATA_KEY], path) if METADATA_KEY in props else None


def parse_spec(text: str, path) -> ModelSpec:
    """A model file's embedded spec JSON, validated field by field; errors name the file."""
    try:
        return ModelSpec.from_json(text)
    except EdgecvError as e:
        raise EdgecvError(f"{path}: the edgecv spec in its metadata is invalid: {e.message}",
                          "re-export the model with `edgecv export`") from None


def read_spec(path) -> ModelSpec | None:
    return spec_of(_load(Path(path)), path)


def describe_onnx(path) -> dict:
    import onnx

    path = Path(path)
    model = _load(path)
    spec = spec_of(model, path)
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
