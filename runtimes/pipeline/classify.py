"""Classify many images: decoding + preprocessing in a thread pool, overlapped with batched inference."""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from edgecv.errors import ImageError
from edgecv.runtimes.pipeline.images import MAX_PIXELS, DecodeOptions, read_image
from edgecv.runtimes.pipeline.preprocess import Preprocessor, preprocessor_for


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def probabilities(scores: np.ndarray, spec) -> np.ndarray:
    """Class probabilities from the network's output as the spec says it is: softmax of logits,
    ``exp`` of log-probabilities, probabilities as they are (never a second softmax)."""
    kind = getattr(spec, "scores", "logits")
    if kind == "probabilities":
        return scores.astype(np.float32)
    if kind == "log_probabilities":
        return np.exp(scores.astype(np.float64)).astype(np.float32)
    return softmax(scores)


def topk_entries(probs: np.ndarray, spec, k: int) -> list[dict]:
    k = min(k, len(probs))
    idx = np.argsort(-probs, kind="stable")[:k]
    return [{"index": int(i), "label": spec.label(int(i)), "prob": round(float(probs[i]), 6)} for i in idx]


@dataclass
class Result:
    source: str
    topk: list[dict] = field(default_factory=list)
    error: str | None = None
    image: np.ndarray | None = None  # kept only when annotated copies are wanted

    def to_json(self) -> dict:
        d = {"source": self.source, "topk": self.topk}
        if self.error:
            d["error"] = self.error
        return d


def check_batch(input_size, most: int = 8) -> int:
    """How many images a check feeds at once: ``most`` at 224x224 and below, fewer as the pixels grow
    (activations grow with them: a ViT at 768 px holds 12 x 2,304^2 attention weights per image), so a
    check's memory stays near what ``most`` images at 224 px take.  At least 1."""
    h, w = input_size
    return max(1, min(most, (most * 224 * 224) // (h * w)))


def in_batches(fn, x: np.ndarray, batch: int) -> np.ndarray:
    """``fn`` over ``x`` in chunks of exactly ``batch`` rows (the last one padded by repetition)."""
    outs = []
    for i in range(0, len(x), batch):
        chunk = x[i:i + batch]
        n = len(chunk)
        if n < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - n, axis=0)])
        outs.append(fn(chunk)[:n])
    return np.concatenate(outs)


def infer_probabilities(rt, xs: np.ndarray) -> np.ndarray:
    """Class probabilities for a batch of preprocessed images; a fixed-batch model gets its batch
    padded (and the padding dropped) or split, so any count works on any model."""
    static = rt.inputs[0].static_batch
    scores = in_batches(rt.infer, xs, static) if static else rt.infer(xs)
    return probabilities(scores, rt.spec)


def batch_probabilities(rt, xs: list) -> np.ndarray:
    """Probabilities for prepared inputs, stacked into batches; raw images (a file with its
    preprocessing embedded) are batched by runs of one size."""
    if not xs:
        return np.zeros((0, rt.spec.num_classes), np.float32)
    out, start = [], 0
    for end in range(1, len(xs) + 1):
        if end == len(xs) or xs[end].shape != xs[start].shape:
            out.append(infer_probabilities(rt, np.stack(xs[start:end])))
            start = end
    return np.concatenate(out)


def prepare_image(path: Path, pre: Preprocessor, decode: DecodeOptions, keep: bool = False):
    """(path, preprocessed tensor or None, the decoded image if ``keep``, error or None) for one file."""
    try:
        img = read_image(path, decode)
        return path, pre(img), (img if keep else None), None
    except ImageError as e:
        return path, None, None, str(e)


def classify_paths(rt, paths: Iterable[Path], batch_size: int = 8, topk: int = 5, workers: int = 2,
                   keep_images: bool = False, max_pixels: int | None = MAX_PIXELS) -> Iterator[Result]:
    """Yield one Result per path, in order.  Decoding runs ``workers`` threads ahead of inference
    (OpenCV and numpy release the GIL); at most ``4 * batch_size`` images are in flight."""
    spec = rt.spec
    pre = preprocessor_for(spec)
    decode = DecodeOptions.for_spec(spec, max_pixels)
    static = rt.inputs[0].static_batch
    if static:
        batch_size = static
    paths = list(paths)
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        pending: deque = deque()
        it = iter(paths)
        ahead = max(4 * batch_size, 8)

        def fill():
            while len(pending) < ahead:
                try:
                    p = next(it)
                except StopIteration:
                    return
                pending.append(pool.submit(prepare_image, p, pre, decode, keep_images))

        fill()
        ready: list = []  # (path, x | None, img, error) in input order
        while pending or ready:
            n_valid = sum(r[1] is not None for r in ready)
            while pending and n_valid < batch_size:
                item = pending.popleft().result()
                fill()
                ready.append(item)
                n_valid += item[1] is not None
            valid = [r for r in ready if r[1] is not None]
            probs = iter(batch_probabilities(rt, [r[1] for r in valid]) if valid else ())
            for path, x, img, error in ready:
                if error:
                    yield Result(str(path), error=error)
                else:
                    yield Result(str(path), topk_entries(next(probs), spec, topk), image=img)
            ready = []


def _as_rgb(item, i: int, decode: DecodeOptions) -> tuple[str, np.ndarray]:
    """(source name, RGB uint8 array) of one ``classify_inputs`` item; ``ImageError`` if unreadable."""
    from edgecv.errors import EdgecvError
    from edgecv.runtimes.pipeline.images import decode as decode_bytes, to_rgb8

    if isinstance(item, (str, Path)):
        return str(item), read_image(item, decode)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return f"<bytes {i}>", decode_bytes(item, f"image {i}", decode)
    if isinstance(item, np.ndarray):
        if item.ndim == 2 or (item.ndim == 3 and item.shape[2] in (1, 3, 4)):
            if item.ndim == 3 and item.shape[2] == 4:
                item = item[..., :3]  # as PIL's convert("RGB") does: alpha dropped
            rgb = item if item.ndim == 3 and item.shape[2] == 3 and item.dtype == np.uint8 else \
                to_rgb8(np.ascontiguousarray(item[..., ::-1] if item.ndim == 3 and item.shape[2] == 3 else item))
            return f"<array {i}>", rgb
        raise EdgecvError(f"image {i}: an array of shape {item.shape} is not (H, W), (H, W, 3) or (H, W, 4)")
    if hasattr(item, "convert") and hasattr(item, "size"):  # a PIL image (no PIL import on the deploy side)
        return f"<image {i}>", np.asarray(item.convert("RGB"))
    raise EdgecvError(f"image {i}: {type(item).__name__} is not an image", "pass arrays, paths, bytes or PIL images")


def classify_inputs(rt, images, topk: int = 5, batch_size: int = 8, max_pixels: int | None = MAX_PIXELS) -> list[Result]:
    """``Runtime.classify``: any mix of arrays, paths, bytes and PIL images, preprocessed as ``run``."""
    spec = rt.spec
    pre = preprocessor_for(spec)
    decode = DecodeOptions.for_spec(spec, max_pixels if max_pixels is not None else MAX_PIXELS)
    sources, xs = [], []
    for i, item in enumerate(images if isinstance(images, (list, tuple)) else [images]):
        try:
            name, rgb = _as_rgb(item, i, decode)
            sources.append((name, None))
            xs.append(pre(rgb))
        except ImageError as e:
            sources.append((str(item) if isinstance(item, (str, Path)) else f"<image {i}>", str(e)))
    chunks = [batch_probabilities(rt, xs[i:i + batch_size]) for i in range(0, len(xs), batch_size)]
    probs = iter(np.concatenate(chunks)) if chunks else iter(())
    return [Result(name, error=error) if error else Result(name, topk_entries(next(probs), spec, topk))
            for name, error in sources]


def write_csv(path, results) -> None:
    """Results as CSV, one row per (image, rank); an unreadable image gets one row with its error.
    Written to a temporary file and renamed."""
    import csv

    from edgecv.fileio import atomic_write_text

    rows = [["source", "rank", "index", "label", "prob", "error"]]
    for r in results:
        if r.error:
            rows.append([r.source, "", "", "", "", r.error])
        rows += [[r.source, i + 1, t["index"], t["label"], t["prob"], ""] for i, t in enumerate(r.topk)]
    atomic_write_text(path, lambda f: csv.writer(f).writerows(rows), what="--csv", suffixes=(".csv",))


def write_frames_csv(path, records) -> None:
    """Stream results as CSV, one row per (frame, rank): source, frame, pts_s (seconds into a video
    file; empty for live sources), elapsed_s, rank, index, label, prob."""
    import csv

    from edgecv.fileio import atomic_write_text

    rows = [["source", "frame", "pts_s", "elapsed_s", "rank", "index", "label", "prob"]]
    for r in records:
        pts = "" if r["pts_s"] is None else r["pts_s"]
        rows += [[r["source"], r["frame"], pts, r["elapsed_s"], i + 1, t["index"], t["label"], t["prob"]]
                 for i, t in enumerate(r["topk"])]
    atomic_write_text(path, lambda f: csv.writer(f).writerows(rows), what="--csv", suffixes=(".csv",))
