"""A model file and the files it needs beside it, as bytes, so a worker on another machine can
load it without the same path existing there (Ray ships the bundle through its object store).

What travels: the model file, files named after it (``m.onnx.data`` external weights,
``m.engine.json`` spec sidecar) and ``m.json``.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from edgecv.errors import EdgecvError


def model_bundle(path) -> dict[str, bytes]:
    """{file name: bytes} for the model at ``path`` and its companions; the model's name comes first."""
    path = Path(path)
    if not path.is_file():
        raise EdgecvError(f"model file {path} does not exist")
    names = [path] + sorted(p for p in path.parent.glob(path.name + ".*") if p.is_file())
    sidecar = path.with_suffix(".json")
    if sidecar.is_file() and sidecar not in names:
        names.append(sidecar)
    return {p.name: p.read_bytes() for p in names}


def unpack_bundle(bundle: dict[str, bytes], directory=None) -> Path:
    """Write the bundle into ``directory`` (a new temporary one by default); the model file's path."""
    target = Path(directory or tempfile.mkdtemp(prefix="edgecv-model-"))
    target.mkdir(parents=True, exist_ok=True)
    for name, data in bundle.items():
        if Path(name).name != name:
            raise EdgecvError(f"model bundle names a path, not a file: {name!r}")
        (target / name).write_bytes(data)
    return target / next(iter(bundle))
