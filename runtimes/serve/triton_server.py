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

One client cannot starve the others: a request may hold at most ``max_request_images`` images and
``max_request_pixels`` pixels in all (each image's size read from its header, before anything is
decoded); a request over either limit gets an error in every row, undecoded.  Images are decoded
in a shared pool of ``decode_threads``, and ``instances`` model instances serve batches side by side.
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
    max_request_images: int = 32
    max_request_pixels: int = 64_000_000  # eight 8-megapixel photos
    instances: int = 2


class ImageClassifier:
    """The infer function Triton calls with the requests of one batch (numpy in, numpy out)."""

    def __init__(self, rt, topk: int, max_pixels: int | None, decode_threads: int = 2,
                 max_request_images: int = 32, max_request_pixels: int | None = 64_000_000, pool=None):
        from edgecv.runtimes.pipeline.images import DecodeOptions
        from edgecv.runtimes.pipeline.preprocess import preprocessor_for

        self.rt, self.spec = rt, rt.spec
        self.k = min(topk, rt.spec.num_classes)
        self.pre = preprocessor_for(rt.spec)  # a file with its preprocessing embedded takes the images
        self.decode = DecodeOptions.for_spec(rt.spec, max_pixels)
        self.max_images, self.max_pixels = max_request_images, max_request_pixels
        self.pool = pool or ThreadPoolExecutor(max_workers=max(decode_threads, 1), thread_name_prefix="edgecv-decode")

    def _prepare(self, i_data):
        from edgecv.runtimes.pipeline.images import decode

        i, data = i_data
        try:
            return self.pre(decode(bytes(data), f"request image {i}", self.decode)), ""
        except ImageError as e:
            return None, str(e)

    def refusal(self, images: list) -> str:
        """Why a request is refused whole ('' when it is not): too many images, or too many pixels
        declared in their headers (read without decoding)."""
        from edgecv.runtimes.pipeline.images import declared_size

        if len(images) > self.max_images:
            return (f"request refused: {len(images)} images, over the limit of {self.max_images} per request "
                    "(edgecv serve --max-request-images); send them in smaller requests")
        if self.max_pixels:
            total = 0
            for data in images:
                size = declared_size(np.frombuffer(bytes(data), np.uint8))
                total += size[0] * size[1] if size else 0
            if total > self.max_pixels:
                return (f"request refused: its images declare {total / 1e6:.0f} M pixels, over the limit of "
                        f"{self.max_pixels / 1e6:.0f} M per request (edgecv serve --max-request-pixels); "
                        "send them in smaller requests")
        return ""

    def __call__(self, requests: list) -> list[dict]:
        """One answer per request, in order; rows of refused requests carry the reason, undecoded."""
        from edgecv.runtimes.pipeline.classify import batch_probabilities

        per_request = [r["image"].reshape(len(r["image"]), -1)[:, 0] for r in requests]
        refusals = [self.refusal(list(imgs)) for imgs in per_request]
        jobs = [(i, data) for imgs, why in zip(per_request, refusals) if not why for i, data in enumerate(imgs)]
        prepared = iter(self.pool.map(self._prepare, jobs))
        rows: list[list[tuple]] = []
        for imgs, why in zip(per_request, refusals):
            rows.append([(None, why) for _ in imgs] if why else [next(prepared) for _ in imgs])
        flat = [row for req in rows for row in req]
        ok = [x is not None for x, _ in flat]
        probs = np.zeros((len(flat), self.spec.num_classes), np.float32)  # a failed row stays zeros
        if any(ok):
            probs[np.array(ok)] = batch_probabilities(self.rt, [x for x, _ in flat if x is not None])
        order = np.argsort(-probs, axis=1, kind="stable")[:, :self.k]
        labels = np.array([[self.spec.label(int(j)).encode() for j in row] for row in order], dtype=object)
        for r, fine in enumerate(ok):
            if not fine:
                order[r], labels[r] = -1, b""
        out = {"probabilities": probs, "topk_index": order.astype(np.int64),
               "topk_prob": np.take_along_axis(probs, np.maximum(order, 0), axis=1),
               "topk_label": labels, "error": np.array([[e.encode()] for _, e in flat], dtype=object)}
        answers, start = [], 0
        for req in rows:
            answers.append({k: v[start:start + len(req)] for k, v in out.items()})
            start += len(req)
        return answers


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
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig
    except ImportError:
        raise EdgecvError("edgecv serve needs PyTriton", "pip install 'edgecv[triton]' (Linux x86-64 / arm64)") from None
    return DynamicBatcher, ModelConfig, Tensor, Triton, TritonConfig


def model_name(model_path, name: str | None) -> str:
    from edgecv.formats import safe_model_name

    return safe_model_name(name or Path(model_path).name.split(".")[0])


def start_server(rt, opts: ServeOptions, model_path):
    """Start Triton with the model bound (returns the running ``Triton``; ``stop()`` it)."""
    DynamicBatcher, ModelConfig, Tensor, Triton, TritonConfig = _pytriton()
    _python_backend_env()
    static = rt.inputs[0].static_batch
    pool = ThreadPoolExecutor(max_workers=max(opts.decode_threads, 1), thread_name_prefix="edgecv-decode")
    # several instances answer batches side by side (ONNX Runtime sessions run concurrently); they
    # share the runtime and one decode pool
    instances = [ImageClassifier(rt, opts.topk, opts.max_pixels, opts.decode_threads, opts.max_request_images,
                                 opts.max_request_pixels, pool) for _ in range(max(opts.instances, 1))]
    classify = instances[0]
    config = TritonConfig(http_address=opts.host, http_port=opts.http_port, grpc_address=opts.host,
                          grpc_port=opts.grpc_port, metrics_address=opts.host, metrics_port=opts.metrics_port,
                          allow_gpu_metrics=False, exit_on_error=True)
    triton = Triton(config=config)
    triton.bind(
        model_name=model_name(model_path, opts.name),
        infer_func=instances if len(instances) > 1 else classify,
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
