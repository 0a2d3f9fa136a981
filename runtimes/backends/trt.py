"""TensorRT backend: a serialized engine plus its JSON spec sidecar, TensorRT 10/11 API.

Named I/O tensors (``num_io_tensors`` / ``get_tensor_name`` / ``get_tensor_mode``),
``set_input_shape`` for dynamic batch, ``set_tensor_address`` and ``execute_async_v3``.  Device
memory and the stream come from NVIDIA's cuda-python (``cuda.bindings.runtime``), not torch.
Tested for real only where ``tensorrt`` imports and a CUDA device exists (pytest marker
``tensorrt``); the sidecar and shape logic is unit-tested everywhere.
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


def _cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError:
            raise EdgecvError("the TensorRT backend needs cuda-python", "pip install 'edgecv[tensorrt]'") from None
    return cudart


def _check(result):
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeFailure(f"CUDA error {err}", "check the GPU with nvidia-smi; run on another --backend")
    return rest[0] if len(rest) == 1 else rest


class TensorRTRuntime(Runtime):
    backend = "tensorrt"

    def __init__(self, path, options: TensorRTOptions | None = None, spec: ModelSpec | None = None):
        super().__init__(path, spec or read_sidecar(Path(path)))
        try:
            import tensorrt as trt
        except Exception:  # noqa: BLE001 - the PyPI stub raises at import when it cannot download
            raise EdgecvError("tensorrt is not installed (or not usable) here",
                              "pip install 'edgecv[tensorrt]' on a machine with an NVIDIA GPU") from None
        self.trt = trt
        self.cudart = _cudart()
        self.logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self.logger)
        self.engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
        if self.engine is None:
            raise EdgecvError(f"{path} is not a TensorRT engine for this TensorRT version and GPU",
                              "rebuild it on this machine from the ONNX file")
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            info = TensorInfo(name, tuple(d if d >= 0 else None for d in self.engine.get_tensor_shape(name)),
                              np.dtype(trt.nptype(self.engine.get_tensor_dtype(name))))
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(info)
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, bytes)

    def activate_impl(self):
        self.context = self.engine.create_execution_context()
        self.stream = _check(self.cudart.cudaStreamCreate())
        self.name = f"tensorrt/{self.trt.__version__}"

    def _device(self, name: str, nbytes: int) -> int:
        ptr, size = self._buffers.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                _check(self.cudart.cudaFree(ptr))
            ptr = _check(self.cudart.cudaMalloc(nbytes))
            self._buffers[name] = (ptr, nbytes)
        return ptr

    def infer_impl(self, batch):
        cu = self.cudart
        inp = self.inputs[0]
        self.context.set_input_shape(inp.name, batch.shape)
        d_in = self._device(inp.name, batch.nbytes)
        self.context.set_tensor_address(inp.name, d_in)
        _check(cu.cudaMemcpyAsync(d_in, batch.ctypes.data, batch.nbytes,
                                  cu.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        results = []
        for out in self.outputs:
            host = np.empty(tuple(self.context.get_tensor_shape(out.name)), out.dtype)
            d_out = self._device(out.name, host.nbytes)
            self.context.set_tensor_address(out.name, d_out)
            results.append((host, d_out))
        if not self.context.execute_async_v3(self.stream):
            raise RuntimeFailure(f"{self.name}: execute_async_v3 failed")
        for host, d_out in results:
            _check(cu.cudaMemcpyAsync(host.ctypes.data, d_out, host.nbytes,
                                      cu.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        _check(cu.cudaStreamSynchronize(self.stream))
        return results[0][0].astype(np.float32, copy=False)

    def deactivate_impl(self):
        for ptr, _ in self._buffers.values():
            self.cudart.cudaFree(ptr)
        self._buffers.clear()
        self.cudart.cudaStreamDestroy(self.stream)
        self.context = None


def write_sidecar(engine: Path, spec: ModelSpec) -> Path:
    """The spec beside the engine, written atomically (never a half-written sidecar)."""
    return atomic_write_text(engine.with_name(engine.name + ".json"),
                             lambda f: f.write(json.dumps(spec.to_dict(), indent=1)))
