"""TensorRT backend: a serialized engine plus its JSON spec sidecar, run through Polygraphy's
``TrtRunner`` (NVIDIA's tested runner with its own CUDA wrapper: device buffers, dynamic shapes,
the stream) instead of hand-written cuda-python buffer handling.

An engine only runs on the TensorRT version and GPU it was built for: the sidecar records both
(``edgecv export --format engine``), and a foreign engine is refused with a message, never run.
Tested for real only where ``tensorrt`` imports and a CUDA device exists (pytest marker
``tensorrt``); the sidecar and identity logic is unit-tested everywhere.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecv.errors import EdgecvError, RuntimeFailure
from edgecv.runtimes.base import Runtime, TensorInfo
from edgecv.runtimes.modelfile.engine import read_sidecar
from edgecv.runtimes.options import TensorRTOptions
from edgecv.spec import ModelSpec


class TensorRTRuntime(Runtime):
    backend = "tensorrt"

    def __init__(self, path, options: TensorRTOptions | None = None, spec: ModelSpec | None = None):
        super().__init__(path, spec or read_sidecar(Path(path)))
        try:
            import tensorrt as trt
            from polygraphy.backend.trt import EngineFromBytes
        except Exception:  # noqa: BLE001 - the PyPI stub raises at import when it cannot download
            raise EdgecvError("tensorrt (with polygraphy) is not installed or not usable here",
                              "pip install 'edgecv[tensorrt]' on a machine with an NVIDIA GPU") from None
        from edgecv.runtimes.modelfile.engine import foreign_reason, gpu_identity

        why = foreign_reason(self.spec.extra.get("tensorrt") or {}, trt.__version__, gpu_identity())
        if why:
            raise EdgecvError(f"{path} cannot run here: {why}",
                              "rebuild it here: edgecv export MODEL.onnx --format engine")
        self.trt = trt
        try:
            self.engine = EngineFromBytes(Path(path).read_bytes())()
        except Exception as e:  # noqa: BLE001
            raise EdgecvError(f"{path} is not a TensorRT engine for this TensorRT version and GPU ({e})",
                              "rebuild it on this machine from the ONNX file") from None
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            info = TensorInfo(name, tuple(d if d >= 0 else None for d in self.engine.get_tensor_shape(name)),
                              np.dtype(trt.nptype(self.engine.get_tensor_dtype(name))))
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(info)

    def activate_impl(self):
        from polygraphy.backend.trt import TrtRunner

        self.runner = TrtRunner(self.engine)
        self.runner.activate()
        self.name = f"tensorrt/{self.trt.__version__}"

    def infer_impl(self, batch):
        out = self.runner.infer({self.inputs[0].name: batch})
        if self.outputs[0].name not in out:
            raise RuntimeFailure(f"{self.name}: no output {self.outputs[0].name!r}")
        return np.asarray(out[self.outputs[0].name], dtype=np.float32)

    def deactivate_impl(self):
        self.runner.deactivate()
        self.runner = None
