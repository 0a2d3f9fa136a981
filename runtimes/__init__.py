"""Deploy-side runtimes: ``load(path, backend="auto", **options)``.

One file per backend under ``backends/`` (``onnxrt``, ``trt``, ``pyt``), imported lazily, so
``import edgecv.runtimes`` and running an ONNX model never import torch or tensorrt.  Adding a
backend is one file plus one line in ``BACKENDS`` (module, class, options dataclass).
"""
from __future__ import annotations

import importlib
from pathlib import Path

from edgecv.errors import EdgecvError
from edgecv.formats import MODEL_SUFFIXES, backend_of
from edgecv.runtimes.base import Runtime, TensorInfo
from edgecv.runtimes.options import OnnxRuntimeOptions, TensorRTOptions, TorchOptions, build_options

BACKENDS = {
    "onnxruntime": ("edgecv.runtimes.backends.onnxrt:OnnxRuntime", OnnxRuntimeOptions),
    "tensorrt": ("edgecv.runtimes.backends.trt:TensorRTRuntime", TensorRTOptions),
    "torch": ("edgecv.runtimes.backends.pyt:TorchRuntime", TorchOptions),
}


def backend_for(path, backend: str = "auto") -> str:
    if backend != "auto":
        if backend not in BACKENDS:
            raise EdgecvError(f"unknown backend {backend!r}", f"use auto, {', '.join(BACKENDS)}")
        return backend
    name = backend_of(path)
    if name is None:
        raise EdgecvError(f"cannot tell the backend of {Path(path).name} from its suffix",
                          f"use one of {', '.join(MODEL_SUFFIXES)} or pass --backend")
    return name


def load(path, backend: str = "auto", **options) -> Runtime:
    """A runtime for ``path`` (not yet active: use it as a context manager).  ``options`` are the
    chosen backend's (see ``edgecv.runtimes.options``); ``None`` values mean "the default"."""
    path = Path(path)
    if not path.is_file():
        raise EdgecvError(f"model file {path} does not exist")
    name = backend_for(path, backend)
    target, options_cls = BACKENDS[name]
    opts = build_options(options_cls, name, {k: v for k, v in options.items() if v is not None})
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(path, opts)


__all__ = ["load", "Runtime", "TensorInfo", "BACKENDS", "backend_for"]
