"""Compile a TensorRT engine from an edgecv ONNX, through Polygraphy (NVIDIA's tested build path:
``NetworkFromOnnxPath`` -> ``CreateConfig`` with an optimisation profile -> engine bytes).

Precision comes from the ONNX, built strongly typed (TensorRT 10 and 11): the fp16 ONNX from
``--precision fp16``, the Q/DQ ONNX from ``--precision int8`` (explicit quantization; TensorRT 10
deprecates implicit calibration), fp32 otherwise.  A dynamic-batch ONNX gets one profile
(min / opt / max batch).  ODConv models want ``--target tensorrt`` (static-mix: constant weights).

Writes ``NAME.engine`` and the sidecar ``NAME.engine.json``: the spec plus the engine's identity
(ONNX sha256, TensorRT version, GPU name and compute capability, precision, profile).  That
identity is the cache key: an engine whose key matches is reused, a stale one (other ONNX, other
profile) is rebuilt, and the runtime refuses a foreign one (other TensorRT or GPU) with a message
instead of running it.  Runs only where ``tensorrt`` imports and a CUDA device exists; the key
logic is unit-tested everywhere.
"""
from __future__ import annotations

from pathlib import Path

from edgecv.errors import EdgecvError, RuntimeFailure
from edgecv.fileio import atomic_write, sha256_file
from edgecv.runtimes.modelfile.engine import engine_key, gpu_identity, stale_reason


def require_tensorrt():
    """The tensorrt module; a one-line error where TensorRT cannot build here."""
    try:
        import tensorrt as trt
    except Exception:  # noqa: BLE001
        raise EdgecvError("tensorrt is not installed (or not usable) here",
                          "pip install 'edgecv[tensorrt]' on a machine with an NVIDIA GPU") from None
    return trt


# Integer-arithmetic ONNX ops TensorRT's ONNX parser does not implement (onnx-tensorrt
# docs/operators.md: "N"); TensorRT takes INT8 only as Q/DQ.  Dynamic INT8 is made of the first three.
TRT_UNSUPPORTED = ("MatMulInteger", "DynamicQuantizeLinear", "ConvInteger", "QLinearConv", "QLinearMatMul")


def trt_unsupported_ops(graph) -> list[str]:
    """Operators in the graph that TensorRT cannot parse: the integer ones above and ONNX Runtime's
    own domain (com.microsoft)."""
    return sorted({n.op_type for n in graph.node if n.op_type in TRT_UNSUPPORTED or n.domain == "com.microsoft"})


def explicit_precision(onnx_path) -> str | None:
    """``int8`` for a Q/DQ ONNX, ``fp16`` for an fp16 one (both built strongly typed), ``None`` for fp32."""
    from edgecv.runtimes.modelfile.onnx_file import onnx_precision

    precision = onnx_precision(onnx_path)
    return None if precision == "fp32" else precision


def build_engine(onnx_path, out=None, *, min_batch: int = 1, opt_batch: int = 8, max_batch: int = 32,
                 workspace_gib: float = 2.0, rebuild: bool = False, say=None, **_ignored) -> Path:
    from edgecv.runtimes.modelfile.onnx_file import load_model_proto, read_spec
    from edgecv.runtimes.modelfile.engine import read_engine_info, write_sidecar

    onnx_path = Path(onnx_path)
    graph = load_model_proto(onnx_path).graph
    unsupported = trt_unsupported_ops(graph)
    if unsupported:
        raise EdgecvError(f"{onnx_path.name} uses operators TensorRT cannot parse ({', '.join(unsupported)}: "
                          "ONNX Runtime's dynamic INT8)", "build the engine from the fp32 ONNX; for TensorRT INT8 "
                          "quantize with --int8-activations u8 or s8 (Q/DQ), not dynamic")
    trt = require_tensorrt()
    out = Path(out) if out else onnx_path.with_suffix(".engine")
    spec = read_spec(onnx_path)
    if spec is None:
        raise EdgecvError(f"{onnx_path} has no edgecv spec", "export it with `edgecv export` first")
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise EdgecvError(f"batch profile min {min_batch} <= opt {opt_batch} <= max {max_batch} does not hold")
    graph_input = graph.input[0]
    dynamic = not graph_input.type.tensor_type.shape.dim[0].dim_value
    precision = explicit_precision(onnx_path) or "fp32"
    want = engine_key(sha256_file(onnx_path), precision, (min_batch, opt_batch, max_batch) if dynamic else None,
                      workspace_gib, trt.__version__, gpu_identity())
    if out.exists() and not rebuild:
        why = stale_reason(read_engine_info(out), want)
        if why is None:
            if say:
                say(f"{out}: cached engine matches (same ONNX, precision, profile, TensorRT and GPU); reused")
            return out
        if say:
            say(f"{out}: rebuilding ({why})")
    from polygraphy.backend.trt import CreateConfig, NetworkFromOnnxPath, Profile, engine_bytes_from_network

    c, (h, w) = spec.channels, spec.input_size
    profiles = []
    if dynamic:
        profiles = [Profile().add(graph_input.name, (min_batch, c, h, w), (opt_batch, c, h, w), (max_batch, c, h, w))]
    network = NetworkFromOnnxPath(str(onnx_path), strongly_typed=precision != "fp32")
    config = CreateConfig(profiles=profiles or None,
                          memory_pool_limits={trt.MemoryPoolType.WORKSPACE: int(workspace_gib * (1 << 30))})
    try:
        data = engine_bytes_from_network(network, config=config)
    except Exception as e:  # noqa: BLE001 - Polygraphy raises PolygraphyException with TensorRT's log
        raise RuntimeFailure(f"TensorRT could not build an engine from {onnx_path.name}: "
                             f"{str(e).splitlines()[0][:300] if str(e) else type(e).__name__}",
                             "for ODConv models export with --target tensorrt (static-mix)") from None
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(bytes(data)))
    spec.extra = {**spec.extra, "tensorrt": want}
    write_sidecar(out, spec)
    return out
