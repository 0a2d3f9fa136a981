"""``edgecv serve``: a real Triton Inference Server with edgecv's decoding, preprocessing and runtime
behind it, through PyTriton (``nvidia-pytriton`` bundles the ``tritonserver`` binary and its Python
backend).  Clients send encoded image bytes; the server decodes them as ``edgecv run`` does, so
every client gets the answers ``run`` gives without knowing the model's preprocessing.

The model ``<name>`` (default: the file's stem), Triton's KServe v2 protocol on HTTP and gRPC:

    input   image         BYTES  [1]    the encoded file (JPEG, PNG, ...), one per batch row
    outputs probabilities FP32   [C]    class probabilities (softmax applied where the net gives logits)
            topk_index    INT64  [k]
            topk_prob     FP32   [k]
            topk_label    BYTES  [k]
            error         BYTES  [1]    empty, or why this image could not be classified

Triton's dynamic batcher gathers concurrent requests into one batch (``max_batch``, waiting at most
``queue_delay_us``); a bad image fails only its own row, never the batch it shares with others.
Health: ``/v2/health/ready``; metrics: ``http://HOST:METRICS_PORT/metrics`` (Prometheus).
"""
from __future__ import annotations

import os
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecv.errors import EdgecvError, ImageError


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    name: str | None = None
    topk: int = 5
    max_batch: int = 32
    queue_delay_us: int = 2000
    max_pixels: int | None = None
    decode_threads: int = 2


class ImageClassifier:
    """The infer function Triton calls with a batch of encoded images (numpy in, numpy out)."""

    def __init__(self, rt, topk: int, max_pixels: int | None, decode_threads: int = 2):
        from edgecv.runtimes.pipeline.images import DecodeOptions
        from edgecv.runtimes.pipeline.preprocess import Preprocessor

        self.rt, self.spec = rt, rt.spec
        self.k = min(topk, rt.spec.num_classes)
        self.pre = Preprocessor(rt.spec)
        self.decode = DecodeOptions.for_spec(rt.spec, max_pixels)
        self.pool = ThreadPoolExecutor(max_workers=max(decode_threads, 1), thread_name_prefix="edgecv-decode")

    def _prepare(self, i_data):
        from edgecv.runtimes.pipeline.images import decode

        i, data = i_data
        try:
            return self.pre(decode(bytes(data), f"request image {i}", self.decode)), ""
        except ImageError as e:
            return None, str(e)

    def __call__(self, image: np.ndarray) -> dict:
        from edgecv.runtimes.pipeline.classify import infer_probabilities

        rows = list(self.pool.map(self._prepare, enumerate(image.reshape(len(image), -1)[:, 0])))
        ok = [x is not None for x, _ in rows]
        probs = np.zeros((len(rows), self.spec.num_classes), np.float32)  # a failed row stays zeros
        if any(ok):
            probs[np.array(ok)] = infer_probabilities(self.rt, np.stack([x for x, _ in rows if x is not None]))
        order = np.argsort(-probs, axis=1, kind="stable")[:, :self.k]
        labels = np.array([[self.spec.label(int(j)).encode() for j in row] for row in order], dtype=object)
        for r, fine in enumerate(ok):
            if not fine:
                order[r], labels[r] = -1, b""
        return {"probabilities": probs, "topk_index": order.astype(np.int64),
                "topk_prob": np.take_along_axis(probs, np.maximum(order, 0), axis=1),
                "topk_label": labels, "error": np.array([[e.encode()] for _, e in rows], dtype=object)}


def _python_backend_env() -> None:
    """Triton's Python backend stub embeds the libpython it finds first; it must be the one of the
    interpreter whose standard library it then runs (a distribution's older libpython beside a
    pyenv / uv Python fails inside multiprocessing).  Put this interpreter's library folder first."""
    libdir = sysconfig.get_config_var("LIBDIR")
    library = sysconfig.get_config_var("LDLIBRARY") or ""
    if libdir and library.endswith(".so") and (Path(libdir) / library).exists():
        paths = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p and p != libdir]
        os.environ["LD_LIBRARY_PATH"] = os.pathsep.join([libdir, *paths])


def _pytriton():
    try:
        from pytriton.decorators import batch
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig
    except ImportError:
        raise EdgecvError("edgecv serve needs PyTriton", "pip install 'edgecv[triton]' (Linux x86-64 / arm64)") from None
    return batch, DynamicBatcher, ModelConfig, Tensor, Triton, TritonConfig


def model_name(model_path, name: str | None) -> str:
    from edgecv.formats import safe_model_name

    return safe_model_name(name or Path(model_path).name.split(".")[0])


def start_server(rt, opts: ServeOptions, model_path):
    """Start Triton with the model bound (returns the running ``Triton``; ``stop()`` it)."""
    batch, DynamicBatcher, ModelConfig, Tensor, Triton, TritonConfig = _pytriton()
    _python_backend_env()
    static = rt.inputs[0].static_batch
    classify = ImageClassifier(rt, opts.topk, opts.max_pixels, opts.decode_threads)
    config = TritonConfig(http_address=opts.host, http_port=opts.http_port, grpc_address=opts.host,
                          grpc_port=opts.grpc_port, metrics_address=opts.host, metrics_port=opts.metrics_port,
                          allow_gpu_metrics=False, exit_on_error=True)
    triton = Triton(config=config)
    triton.bind(
        model_name=model_name(model_path, opts.name),
        infer_func=batch(classify),
        inputs=[Tensor(name="image", dtype=bytes, shape=(1,))],
        outputs=[Tensor(name="probabilities", dtype=np.float32, shape=(rt.spec.num_classes,)),
                 Tensor(name="topk_index", dtype=np.int64, shape=(classify.k,)),
                 Tensor(name="topk_prob", dtype=np.float32, shape=(classify.k,)),
                 Tensor(name="topk_label", dtype=bytes, shape=(classify.k,)),
                 Tensor(name="error", dtype=bytes, shape=(1,))],
        config=ModelConfig(max_batch_size=max(opts.max_batch, static or 1),
                           batcher=DynamicBatcher(max_queue_delay_microseconds=opts.queue_delay_us)),
        strict=True,
    )
    triton.run()
    return triton
