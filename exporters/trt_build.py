"""Compile a TensorRT engine (FP32 / FP16 / INT8) from an edgecv ONNX file, TensorRT 10/11 API.

Writes ``NAME.engine`` and the spec sidecar ``NAME.engine.json`` (the runtime reads both).  A
dynamic-batch ONNX gets one optimisation profile (min 1, opt ``opt_batch``, max ``max_batch``).
INT8 uses an entropy calibrator over real images, where this TensorRT still has calibrators
(TensorRT 10 deprecates implicit quantization); otherwise it asks for a Q/DQ ONNX.  Runs only where
``tensorrt`` imports and a CUDA device exists; tests are marked ``tensorrt``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecv.errors import EdgecvError, RuntimeFailure
from edgecv.fileio import atomic_write


def require_tensorrt():
    """The tensorrt module; a one-line error where TensorRT cannot build here."""
    try:
        import tensorrt as trt
    except Exception:  # noqa: BLE001
        raise EdgecvError("tensorrt is not installed (or not usable) here",
                          "pip install 'edgecv[tensorrt]' on a machine with an NVIDIA GPU") from None
    return trt


def _calibrator(trt, spec, images: list[Path], batch: int, cache: Path):
    from edgecv.runtimes.pipeline.images import DecodeOptions, read_image
    from edgecv.runtimes.pipeline.preprocess import Preprocessor
    from edgecv.runtimes.backends.trt import _check, _cudart

    base = getattr(trt, "IInt8EntropyCalibrator2", None)
    if base is None:
        raise EdgecvError("this TensorRT has no INT8 calibrators", "export a Q/DQ-quantized ONNX instead")
    cudart = _cudart()
    pre = Preprocessor(spec)

    class Calibrator(base):
        def __init__(self):
            super().__init__()
            self.batches = [images[i:i + batch] for i in range(0, len(images), batch)]
            self.nbytes = batch * spec.channels * spec.input_size[0] * spec.input_size[1] * 4
            self.device = _check(cudart.cudaMalloc(self.nbytes))

        def get_batch_size(self):
            return batch

        def get_batch(self, names):
            if not self.batches:
                return None
            x = pre.batch([read_image(p, DecodeOptions.for_spec(spec)) for p in self.batches.pop(0)])
            if len(x) < batch:
                x = np.concatenate([x, np.repeat(x[-1:], batch - len(x), axis=0)])
            _check(cudart.cudaMemcpy(self.device, x.ctypes.data, x.nbytes,
                                     cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
            return [int(self.device)]

        def read_calibration_cache(self):
            return cache.read_bytes() if cache.exists() else None

        def write_calibration_cache(self, data):
            cache.write_bytes(bytes(data))

    return Calibrator()


def explicit_precision(onnx_path) -> str | None:
    """``int8`` for a Q/DQ ONNX, ``fp16`` for an fp16 one (both built strongly typed: TensorRT 10
    and 11 take the precision from the graph), ``None`` for fp32."""
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in m.graph.node):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer):
        return "fp16"
    return None


def build_engine(onnx_path, out=None, *, fp16: bool = False, int8: bool = False, calib_images=(),
                 opt_batch: int = 8, max_batch: int = 32, workspace_gib: float = 2.0) -> Path:
    from edgecv.runtimes.backends.onnx_meta import read_spec
    from edgecv.runtimes.backends.trt import write_sidecar

    trt = require_tensorrt()
    onnx_path = Path(onnx_path)
    out = Path(out) if out else onnx_path.with_suffix(".engine")
    spec = read_spec(onnx_path)
    if spec is None:
        raise EdgecvError(f"{onnx_path} has no edgecv spec", "export it with `edgecv export` first")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    typed = explicit_precision(onnx_path)  # a QDQ (int8) or fp16 ONNX: its types are the plan
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EdgecvError(f"TensorRT cannot parse {onnx_path.name}: {errors[:300]}",
                          "for ODConv models export with --target tensorrt (static-mix)")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if fp16 and not typed:
        config.set_flag(trt.BuilderFlag.FP16)
    inp = network.get_input(0)
    c, h, w = spec.channels, *spec.input_size
    if inp.shape[0] == -1:
        profile = builder.create_optimization_profile()
        profile.set_shape(inp.name, (1, c, h, w), (opt_batch, c, h, w), (max_batch, c, h, w))
        config.add_optimization_profile(profile)
    if int8 and not typed:
        if not calib_images:
            raise EdgecvError("--int8 needs calibration images", "pass --calib DIR with a few hundred real images")
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _calibrator(trt, spec, list(calib_images), opt_batch,
                                             out.with_suffix(".calib"))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeFailure(f"TensorRT could not build an engine from {onnx_path.name}", "see the log above")
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(bytes(serialized)))
    spec.extra = {**spec.extra, "tensorrt": {"version": trt.__version__, "fp16": fp16, "int8": int8}}
    write_sidecar(out, spec)
    return out
