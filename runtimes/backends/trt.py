"""TensorRT backend: a serialized engine plus its JSON spec sidecar, run through Polygraphy's
``TrtRunner`` (NVIDIA's tested runner with its own CUDA wrapper: device buffers, dynamic shapes,
the stream) instead of hand-written cuda-python buffer handling.

An engine only runs on the TensorRT version and GPU it was built for: the sidecar records both
(``edgecv export --format engine``), and a foreign engine is refused with a message, never run.
Tested for real only where ``tensorrt`` imports and a CUDA device exists (pytest marker
``tensorrt``); the sidecar and identity logic is unit-tested everywhere.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgecv.errors import EdgecvError, RuntimeFailure
from edgecv.fileio import atomic_write_text
from edgecv.runtimes.base import Runtime, TensorInfo
from edgecv.runtimes.options import TensorRTOptions
from edgecv.spec import ModelSpec


def sidecar_path(engine: Path) -> Path | None:
    """``model.engine`` -> ``model.engine.json`` or ``model.json`` (first that exists)."""
    for cand in (engine.with_name(engine.name + ".json"), engine.with_suffix(".json")):
        if cand.is_file():
            return cand
    return None


def read_sidecar(engine: Path) -> ModelSpec:
    side = sidecar_path(engine)
    if side is None:
        raise EdgecvError(f"{engine} has no spec sidecar ({engine.name}.json)",
                          "write the model's spec beside it: `edgecv info MODEL.onnx --json` has it under 'spec'")
    return ModelSpec.from_json(side.read_text())


def read_engine_info(engine: Path) -> dict:
    """The build identity recorded beside an engine ({} when there is none or it is unreadable)."""
    try:
        return dict(read_sidecar(Path(engine)).extra.get("tensorrt") or {})
    except EdgecvError:
        return {}


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
        from edgecv.runtimes.backends.trt_identity import foreign_reason, gpu_identity

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


def write_sidecar(engine: Path, spec: ModelSpec) -> Path:
    """The spec beside the engine, written atomically (never a half-written sidecar)."""
    return atomic_write_text(engine.with_name(engine.name + ".json"),
                             lambda f: f.write(json.dumps(spec.to_dict(), indent=1)))
