"""``edgecv eval``: accuracy, per-class precision / recall / F1 / specificity and the confusion
matrix of a model on labelled images, through the same decoding and preprocessing as ``edgecv run``
(deploy side: numpy only, any backend).

Data is an ImageFolder tree (``DATA/<class>/*.jpg``) or arrays with targets (the built-in sets).
Folder names are matched to the model's labels; a model without labels takes torchvision's
ImageFolder order (sorted folder names -> 0, 1, ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from edgecv.errors import EdgecvError
from edgecv.formats import is_image


@dataclass
class LabelledData:
    names: list[str]  # class names, index = target
    targets: np.ndarray  # (N,) int
    paths: list[Path] | None = None  # an ImageFolder tree ...
    arrays: np.ndarray | None = None  # ... or decoded images (N, H, W[, C]) uint8
    source: str = ""

    def __len__(self) -> int:
        return len(self.targets)


def image_folder(root: Path) -> LabelledData:
    root = Path(root)
    if not root.is_dir():
        raise EdgecvError(f"{root} is not a folder", "pass an ImageFolder root (DATA/<class>/*.jpg), digits or mnist5k")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, targets = [], []
    for i, c in enumerate(classes):
        for f in sorted((root / c).rglob("*")):
            if is_image(f):
                paths.append(f)
                targets.append(i)
    if not paths:
        raise EdgecvError(f"{root} has no class folders with images",
                          "lay it out as DATA/<class>/*.jpg (for training: DATA/train/<class>/ + DATA/val/<class>/)")
    return LabelledData(classes, np.asarray(targets, np.int64), paths=paths, source=str(root))


def class_map(data: LabelledData, spec) -> np.ndarray:
    """Data class index -> model class index."""
    labels = list(spec.labels)
    if labels:
        missing = [n for n in data.names if n not in labels]
        if missing:
            raise EdgecvError(f"data classes {missing[:5]} are not among the model's labels {labels[:10]}",
                              "name the class folders as the model's labels")
        return np.asarray([labels.index(n) for n in data.names], np.int64)
    if len(data.names) > spec.num_classes:
        raise EdgecvError(f"{len(data.names)} data classes for a model with {spec.num_classes} outputs")
    return np.arange(len(data.names), dtype=np.int64)


@dataclass
class Evaluation:
    model: str
    runtime: str
    labels: list[str]  # the model's classes (rows / columns of the matrix)
    confusion: np.ndarray  # (K, K) counts, rows = truth, columns = prediction
    seconds: float = 0.0
    unreadable: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.n, 1))

    def per_class(self) -> list[dict]:
        cm = self.confusion.astype(np.float64)
        tp = np.diag(cm)
        support, predicted = cm.sum(1), cm.sum(0)
        fp, fn = predicted - tp, support - tp
        tn = cm.sum() - tp - fp - fn
        div = lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b > 0)  # noqa: E731
        precision, recall, spec_ = div(tp, predicted), div(tp, support), div(tn, tn + fp)
        f1 = div(2 * precision * recall, precision + recall)
        return [{"label": lab, "precision": float(p), "recall": float(r), "f1": float(f), "specificity": float(s),
                 "support": int(n)} for lab, p, r, f, s, n in zip(self.labels, precision, recall, f1, spec_, support)
                if n > 0 or predicted[self.labels.index(lab)] > 0]

    def macro_f1(self) -> float:
        rows = [r for r in self.per_class() if r["support"] > 0]
        return float(np.mean([r["f1"] for r in rows])) if rows else 0.0

    def to_dict(self) -> dict:
        return {"model": self.model, "runtime": self.runtime, "images": self.n, "accuracy": self.accuracy,
                "macro_f1": self.macro_f1(), "per_class": self.per_class(), "labels": self.labels,
                "confusion": self.confusion.tolist(), "seconds": self.seconds, "unreadable": self.unreadable}


def evaluate(rt, data: LabelledData, batch_size: int = 32, progress: Callable[[int], None] | None = None) -> Evaluation:
    """Run ``rt`` over ``data`` with ``edgecv run``'s preprocessing; unreadable images are listed."""
    import time

    from edgecv.runtimes.pipeline.classify import classify_paths
    from edgecv.runtimes.pipeline.preprocess import preprocessor_for

    spec = rt.spec
    to_model = class_map(data, spec)
    k = spec.num_classes
    labels = [spec.label(i) for i in range(k)]
    cm = np.zeros((k, k), np.int64)
    unreadable = []
    t0 = time.perf_counter()
    if data.paths is not None:
        for i, r in enumerate(classify_paths(rt, data.paths, batch_size=batch_size, topk=1)):
            if r.error:
                unreadable.append(r.error)
            else:
                cm[to_model[data.targets[i]], r.topk[0]["index"]] += 1
            if progress:
                progress(1)
    else:
        pre = preprocessor_for(spec)
        static = rt.inputs[0].static_batch
        step = static or batch_size
        for s in range(0, len(data), step):
            chunk = data.arrays[s:s + step]
            x = pre.batch(chunk)
            n = len(x)
            if static and n < static:
                x = np.concatenate([x, np.repeat(x[-1:], static - n, axis=0)])
            pred = rt.infer(x)[:n].argmax(1)
            np.add.at(cm, (to_model[data.targets[s:s + n]], pred), 1)
            if progress:
                progress(n)
    return Evaluation(Path(str(rt.path)).name, rt.name, labels, cm, time.perf_counter() - t0, unreadable)


def iter_models(paths: Iterable[Path]) -> list[Path]:
    out = []
    for p in paths:
        if not Path(p).exists():
            raise EdgecvError(f"{p} does not exist")
        out.append(Path(p))
    return out

