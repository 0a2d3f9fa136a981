"""Deploy-side runtimes: ``load(path, backend="auto", **options)``.

One file per backend under ``backends/`` (``onnxrt``, ``trt``, ``pyt``), imported lazily, so
``import edgecv.runtimes`` and running an ONNX model never import torch or tensorrt.  Adding a
backend is one file plus one line in ``BACKENDS`` (``register_backend``): the runner class, its
options dataclass, the model-file suffixes it runs.  File kinds (``edgecv.formats``), the CLI's
``--backend`` choices and the options' flag names are derived from this table.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from edgecv.errors import EdgecvError
from edgecv.runtimes.base import Runtime, TensorInfo
from edgecv.runtimes.options import OnnxRuntimeOptions, TensorRTOptions, TorchOptions, build_options


@dataclass(frozen=True)
class Backend:
    name: str
    target: str  # "module:Class" of its Runtime subclass, imported on first use
    options: type  # the frozen dataclass of the options it takes
    suffixes: tuple[str, ...]  # model files it runs
    deploy: bool = True  # runs without torch (``edgecv serve`` takes only these)


BACKENDS: dict[str, Backend] = {
    "onnxruntime": Backend("onnxruntime", "edgecv.runtimes.backends.onnxrt:OnnxRuntime", OnnxRuntimeOptions,
                           (".onnx",)),
    "tensorrt": Backend("tensorrt", "edgecv.runtimes.backends.trt:TensorRTRuntime", TensorRTOptions,
                        (".engine", ".plan", ".trt")),
    "torch": Backend("torch", "edgecv.runtimes.backends.pyt:TorchRuntime", TorchOptions,
                     (".pt", ".pth", ".pt2", ".torchscript"), deploy=False),
}


def register_backend(backend: Backend) -> Backend:
    """Add a backend (the one line a new backend adds); a name or suffix is registered once."""
    taken = {s for b in BACKENDS.values() for s in b.suffixes}
    if backend.name in BACKENDS or taken & set(backend.suffixes):
        raise ValueError(f"backend {backend.name!r} or one of its suffixes {backend.suffixes} is already registered")
    BACKENDS[backend.name] = backend
    return backend


def backend_choices(deploy_only: bool = False) -> str:
    """``auto | onnxruntime | tensorrt | torch``: the CLI's --backend help, from the table."""
    return " | ".join(["auto", *(n for n, b in BACKENDS.items() if b.deploy or not deploy_only)])


def backend_for(path, backend: str = "auto") -> str:
    if backend != "auto":
        if backend not in BACKENDS:
            raise EdgecvError(f"unknown backend {backend!r}", f"use auto, {', '.join(BACKENDS)}")
        return backend
    from edgecv.formats import backend_of, model_suffixes

    name = backend_of(path)
    if name is None:
        raise EdgecvError(f"cannot tell the backend of {Path(path).name} from its suffix",
                          f"use one of {', '.join(model_suffixes())} or pass --backend")
    return name


def load(path, backend: str = "auto", **options) -> Runtime:
    """A runtime for ``path`` (not yet active: use it as a context manager).  ``options`` are the
    chosen backend's (see ``edgecv.runtimes.options``); ``None`` values mean "the default"."""
    path = Path(path)
    if not path.is_file():
        raise EdgecvError(f"model file {path} does not exist")
    name = backend_for(path, backend)
    b = BACKENDS[name]
    opts = build_options(b.options, name, {k: v for k, v in options.items() if v is not None})
    module, cls = b.target.split(":")
    return getattr(importlib.import_module(module), cls)(path, opts)


__all__ = ["load", "Runtime", "TensorInfo", "BACKENDS", "Backend", "register_backend", "backend_for",
           "backend_choices"]
