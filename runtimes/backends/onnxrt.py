"""ONNX Runtime backend.  Provider order TensorRT EP > CUDA EP > CPU EP where a GPU exists."""
from __future__ import annotations

import numpy as np

from edgecv.errors import EdgecvError
from edgecv.log import warn
from edgecv.runtimes.base import Runtime, TensorInfo
from edgecv.runtimes.hardware import cuda_device_count
from edgecv.runtimes.options import OnnxRuntimeOptions
from edgecv.spec import METADATA_KEY, ModelSpec

PREFERRED = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
SHORT = {"tensorrt": "TensorrtExecutionProvider", "trt": "TensorrtExecutionProvider",
         "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
               "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int64)": np.int64}
_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
           "all": "ORT_ENABLE_ALL"}


def ort_session(model, providers=("CPUExecutionProvider",), level: str = "all", threads: int | None = None):
    """The one way edgecv opens an ONNX Runtime session: ``model`` is a path or serialized bytes.
    A file ONNX Runtime cannot load is a one-line ``EdgecvError``."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise EdgecvError("ONNX Runtime is not installed", "on a Jetson install JetPack's onnxruntime-gpu wheel "
                          "(Jetson Zoo); elsewhere pip install 'edgecv[ort]'") from None

    if level not in _LEVELS:
        raise EdgecvError(f"graph optimisation level {level!r} is not one of {', '.join(_LEVELS)}")
    so = ort.SessionOptions()
    so.log_severity_level = 4  # fatal only: a failed run raises, and edgecv says why in one line
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[level])
    if threads:
        so.intra_op_num_threads = int(threads)
    try:
        return ort.InferenceSession(model if isinstance(model, bytes) else str(model), so, providers=list(providers))
    except Exception as e:  # noqa: BLE001 - ORT raises its own Fail/InvalidGraph/... types
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        what = "the model" if isinstance(model, bytes) else str(model)
        raise EdgecvError(f"{what} is not a loadable ONNX model ({msg[:160]})",
                          "re-export it with `edgecv export`") from None


class OnnxRuntime(Runtime):
    backend = "onnxruntime"

    def __init__(self, path, options: OnnxRuntimeOptions | None = None, spec: ModelSpec | None = None):
        super().__init__(path, spec)
        o = options or OnnxRuntimeOptions()
        self.requested = [SHORT.get(p.lower(), p) for p in o.providers] if o.providers else None
        if o.graph_optimization_level not in _LEVELS:
            raise EdgecvError(f"graph optimisation level {o.graph_optimization_level!r} is not one of "
                              f"{', '.join(_LEVELS)}")
        self.level = o.graph_optimization_level
        self.threads = o.intra_op_threads
        self.session = None
        self._read_model()  # spec and I/O are known before activation

    def _providers(self, ort) -> list[str]:
        available = ort.get_available_providers()
        has_gpu = cuda_device_count() > 0
        usable = [p for p in available if p not in GPU_PROVIDERS or has_gpu]
        if self.requested is None:
            return [p for p in PREFERRED if p in usable] or ["CPUExecutionProvider"]
        chosen = [p for p in self.requested if p in usable]
        missing = [p for p in self.requested if p not in usable]
        if missing:
            why = "no CUDA device" if not has_gpu and set(missing) <= set(GPU_PROVIDERS) else "not available"
            warn(f"{', '.join(missing)} {why}; falling back to "
                 f"{(chosen or ['CPUExecutionProvider'])[0]}")
        if "CPUExecutionProvider" not in chosen:
            chosen.append("CPUExecutionProvider")
        return chosen

    def _session(self, providers):
        return ort_session(self.path, [self._with_options(p) for p in providers], self.level, self.threads)

    def _with_options(self, provider):
        """ONNX Runtime's TensorRT EP builds engines at session start: cache them beside the model
        (keyed by ONNX Runtime on the model, TensorRT version and GPU), so the build happens once."""
        if provider != "TensorrtExecutionProvider":
            return provider
        from pathlib import Path

        cache = Path(self.path).parent / ".edgecv-trt-cache"
        return (provider, {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
                           "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache)})

    def _read_model(self):
        # A CPU session only to read metadata and I/O; cheap, and never touches a GPU.
        sess = self._session(["CPUExecutionProvider"])
        import onnxruntime as ort  # importable: the session above opened
        meta = sess.get_modelmeta().custom_metadata_map
        if self.spec is None and METADATA_KEY in meta:
            from edgecv.runtimes.modelfile.onnx_file import parse_spec

            self.spec = parse_spec(meta[METADATA_KEY], self.path)
        self.inputs = [TensorInfo(i.name, tuple(i.shape), np.dtype(_ONNX_TYPES.get(i.type, np.float32)))
                       for i in sess.get_inputs()]
        self.outputs = [TensorInfo(o.name, tuple(o.shape), np.dtype(_ONNX_TYPES.get(o.type, np.float32)))
                        for o in sess.get_outputs()]
        if self.spec is None:
            self.spec = _guess_spec(self.path, self.inputs, self.outputs)
        self._probe = sess
        self._ort = ort

    def activate_impl(self):
        providers = self._providers(self._ort)
        self.session = self._probe if providers == ["CPUExecutionProvider"] else self._session(providers)
        self._probe = None
        self.name = f"onnxruntime/{self.session.get_providers()[0]}"
        self._in = self.inputs[0].name
        if self.session.get_providers()[0] == "CPUExecutionProvider":
            from edgecv.cpuinfo import physical_cores

            self.threads = self.threads or physical_cores()  # ONNX Runtime's default: one per physical core
            _warn_int8_cpu(self.spec, self.path)

    def infer_impl(self, batch):
        return self.session.run(None, {self._in: batch})[0]

    def deactivate_impl(self):
        self.session = None


_WARNED: set[str] = set()


def _warn_int8_cpu(spec, path) -> None:
    """Once per file and process: an INT8 file made for other int8 kernels than this CPU's."""
    extra = (spec.extra or {}) if spec else {}
    if extra.get("precision") != "int8" or str(path) in _WARNED:
        return
    from edgecv.cpuinfo import cpu_features, int8_mismatch

    why = int8_mismatch(extra.get("int8") or {}, cpu_features())
    if why:
        _WARNED.add(str(path))
        warn(f"{path.name}: {why}; `edgecv verify` on this machine measures it")


def _guess_spec(path, inputs, outputs) -> ModelSpec:
    """A model exported elsewhere: infer what the I/O shapes say, ImageNet defaults for the rest."""
    shape = inputs[0].shape
    c = shape[1] if len(shape) == 4 and isinstance(shape[1], int) else 3
    hw = tuple(d if isinstance(d, int) else 224 for d in shape[2:4]) if len(shape) == 4 else (224, 224)
    n = outputs[0].shape[-1] if outputs and isinstance(outputs[0].shape[-1], int) else 1000
    warn(f"{path} has no edgecv spec; assuming ImageNet preprocessing (re-export with `edgecv export`)")
    kw = {"channel_order": "GRAY", "mean": (0.5,), "std": (0.5,)} if c == 1 else {}
    return ModelSpec(arch=path.stem, num_classes=n, input_size=hw, resize=int(round(min(hw) / 0.875)), **kw)
