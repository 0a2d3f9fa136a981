"""Hostile and careless inputs, built fresh for each test run (nothing booby-trapped is committed).

Every booby-trapped pickle here would, if unpickled, create the folder ``PAYLOAD_MARKER`` under its
``root``: the proof that code ran.  Each builder returns the path it made.
"""
from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

MARKER = "PAYLOAD_RAN"


class Payload:
    """Unpickling this runs ``os.makedirs(marker)`` (a harmless, visible side effect)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.makedirs, (self.marker, 0o755, True)


class PayloadThenValue:
    """Runs the payload, then evaluates to ``value`` (a pickle that still "works": a loader that
    runs it would carry on and report success)."""

    def __init__(self, marker: Path, value):
        self.marker, self.value = str(marker), value

    def __reduce__(self):
        # (lambda: (makedirs(marker), value)[1]) as a pickle: builtins.getattr on a tuple built by
        # the payload call and the value; index 1 is taken with operator.itemgetter.
        import operator

        return operator.itemgetter(1), ((Payload(Path(self.marker)), self.value),)


def marker(root: Path) -> Path:
    return Path(root) / MARKER


def evil_pickle_bytes(root: Path, value=None) -> bytes:
    obj = Payload(marker(root)) if value is None else PayloadThenValue(marker(root), value)
    return pickle.dumps(obj, protocol=2)


def evil_torch_file(root: Path, name="evil.pt") -> Path:
    """``torch.save``'s zip format whose data.pkl runs the payload."""
    import torch

    path = Path(root) / name
    buf = io.BytesIO()
    torch.save({"state_dict": {}}, buf)
    _replace_member(buf, path, lambda n: n.endswith("data.pkl"), evil_pickle_bytes(root))
    return path


def _replace_member(src: io.BytesIO | Path, dst, which, data: bytes) -> None:
    """Copy the zip archive ``src`` to ``dst`` (a path or a buffer) with the members ``which``
    selects replaced by ``data``."""
    src = io.BytesIO(src.getvalue()) if isinstance(src, io.BytesIO) else src
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            zout.writestr(item, data if which(item.filename) else zin.read(item.filename))


def _torch_save_bytes(obj_bytes: bytes) -> bytes:
    """A torch.save zip archive whose pickle is ``obj_bytes``."""
    import torch

    buf = io.BytesIO()
    torch.save((torch.zeros(1),), buf)
    out = io.BytesIO()
    _replace_member(buf, out, lambda n: n.endswith("data.pkl"), obj_bytes)
    return out.getvalue()


def good_pt2(root: Path, name="good.pt2") -> Path:
    import torch

    from edgecv.models import create_model

    m = create_model("simple_cnn", num_classes=3).eval()
    path = Path(root) / name
    torch.export.save(torch.export.export(m, (torch.zeros(2, 3, 32, 32),)), path)
    return path


def evil_pt2(root: Path, good: Path, name="evil.pt2", still_valid: bool = False) -> Path:
    """A real ``.pt2`` whose sample-inputs pickle runs the payload; ``still_valid``: the payload then
    returns the real sample inputs, so a loader that runs it reports success."""
    import torch

    value = (torch.zeros(2, 3, 32, 32),), {}
    payload = evil_pickle_bytes(root, value if still_valid else None)
    path = Path(root) / name
    _replace_member(Path(good), path, lambda n: "sample_inputs" in n and n.endswith(".pt"), _torch_save_bytes(payload))
    return path


def aoti_pt2(root: Path, good: Path, name="compiled.pt2") -> Path:
    """A ``.pt2`` that also carries an AOTInductor shared library (native code) for the loader."""
    path = Path(root) / name
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(path, "w") as zout:
        prefix = zin.namelist()[0].split("/")[0]
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        zout.writestr(f"{prefix}/data/aotinductor/model/model.so", b"\x7fELF not really")
    return path


def evil_hf_dir(root: Path) -> Path:
    """A Hugging Face directory whose pytorch_model.bin runs the payload."""
    import json

    d = Path(root) / "hf_evil"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "vit", "architectures": ["ViTForImageClassification"],
                                              "image_size": 32, "patch_size": 8, "hidden_size": 16,
                                              "num_hidden_layers": 1, "num_attention_heads": 2,
                                              "intermediate_size": 16, "num_labels": 2}))
    evil_torch_file(d, "pytorch_model.bin")
    return d


def onnx_with_external_data(root: Path, location: str, length: int | None = None, name="ext.onnx") -> Path:
    """A small valid graph whose weight lives in external data at ``location`` (maybe outside)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder = Path(root) / "model_dir"
    folder.mkdir(exist_ok=True)
    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "W")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(length if length is not None else 64))):
        e = w.external_data.add()
        e.key, e.value = k, v
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 2, 2])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])
    nodes = [helper.make_node("Flatten", ["input"], ["f"]), helper.make_node("MatMul", ["f", "W"], ["logits"])]
    m = helper.make_model(helper.make_graph(nodes, "g", [x], [y], [w]), opset_imports=[helper.make_opsetid("", 17)])
    path = folder / name
    onnx.save(m, path)
    return path


def onnx_with_spec(src: Path, dst: Path, spec_json: str) -> Path:
    """A copy of a real export whose embedded spec is replaced by ``spec_json`` (any text)."""
    import onnx

    from edgecv.spec import METADATA_KEY

    m = onnx.load(str(src))
    onnx.helper.set_model_props(m, {METADATA_KEY: spec_json})
    onnx.save(m, str(dst))
    return dst


def big_gif(path: Path, side: int = 10000) -> Path:
    """A one-colour GIF of ``side`` x ``side`` pixels: ~75 KB that decodes to ``side``² x 3 bytes."""
    from PIL import Image

    Image.new("P", (side, side), 0).save(path)
    return path


def animated_gif(path: Path, frames: int = 12, side: int = 48) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    ims = [Image.fromarray((rng.random((side, side, 3)) * 255).astype(np.uint8)) for _ in range(frames)]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=40)
    return path
