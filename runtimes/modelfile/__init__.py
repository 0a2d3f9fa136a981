"""What a model file says without running it (deploy side: no torch, no tensorrt): the spec and
I/O of an ONNX file (``onnx_file``), the sidecar and build identity of a TensorRT engine
(``engine``).  Exporters and verify read model files through here; ``backends/`` only runs them."""
from __future__ import annotations

from pathlib import Path

from edgecv.formats import backend_of
from edgecv.spec import ModelSpec


def read_model_spec(path) -> ModelSpec | None:
    """The edgecv spec a model file carries (ONNX metadata, an engine's sidecar), or None."""
    path = Path(path)
    kind = backend_of(path)
    if kind == "onnxruntime":
        from edgecv.runtimes.modelfile.onnx_file import read_spec

        return read_spec(path)
    if kind == "tensorrt":
        from edgecv.runtimes.modelfile.engine import read_sidecar, sidecar_path

        return read_sidecar(path) if sidecar_path(path) else None
    return None
