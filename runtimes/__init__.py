"""Deploy-side runtimes: ``load(path, backend="auto", **options)``.

One file per backend (``onnxrt``, ``trt``, ``pyt``), imported lazily, so ``import edgecv.runtimes``
and running an ONNX model never import torch or tensorrt.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from edgecv.errors import EdgecvError
from edgecv.runtimes.base import Runtime, TensorInfo

BACKENDS = {
    "onnxruntime": "edgecv.runtimes.onnxrt:OnnxRuntime",
    "tensorrt": "edgecv.runtimes.trt:TensorRTRuntime",
    "torch": "edgecv.runtimes.pyt:TorchRuntime",
}
SUFFIX_BACKEND = {".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt", ".trt": "tensorrt",
                  ".pt": "torch", ".pth": "torch", ".pt2": "torch", ".torchscript": "torch"}


def backend_for(path, backend: str = "auto") -> str:
    if backend != "auto":
        if backend not in BACKENDS:
            raise EdgecvError(f"unknown backend {backend!r}", f"use auto, {', '.join(BACKENDS)}")
        return backend
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_BACKEND:
        raise EdgecvError(f"cannot tell the backend of {Path(path).name} from its suffix",
                          f"use one of {', '.join(SUFFIX_BACKEND)} or pass --backend")
    return SUFFIX_BACKEND[suffix]


def load(path, backend: str = "auto", **options) -> Runtime:
    """A runtime for ``path`` (not yet active: use it as a context manager)."""
    path = Path(path)
    if not path.is_file():
        raise EdgecvError(f"model file {path} does not exist")
    name = backend_for(path, backend)
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)(path, **options)


__all__ = ["load", "Runtime", "TensorInfo", "BACKENDS", "backend_for"]
