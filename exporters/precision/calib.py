"""Calibration and held-out images, through the model's own deploy decoding and preprocessing."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecv.errors import EdgecvError, ImageError
from edgecv.spec import ModelSpec

MIN_IMAGES = 4


@dataclass
class CalibSet:
    calib: np.ndarray  # (N, C, H, W) float32, what calibration sees
    held_out: np.ndarray  # what the accuracy check sees (the calibration set itself when too few)
    held_out_truth: np.ndarray  # class index per held-out image, -1 where unlabelled
    separate: bool  # False: too few images to hold any out

    @property
    def labelled(self) -> bool:
        return bool((self.held_out_truth >= 0).any())


BUILTIN = ("digits", "mnist5k")


def _spread(n: int, limit: int) -> np.ndarray:
    """``limit`` indices spread evenly over ``n`` (every class of a sorted tree is represented)."""
    return np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int))


def load_calibration(source: Path, spec: ModelSpec, held_out_fraction: float = 0.3, limit: int = 512) -> CalibSet:
    from edgecv.runtimes.pipeline.images import DecodeOptions, read_image
    from edgecv.runtimes.pipeline.preprocess import Preprocessor

    pre, decode = Preprocessor(spec), DecodeOptions.for_spec(spec)
    xs, truth = [], []
    if str(source) in BUILTIN and not Path(source).exists():  # a built-in labelled set
        try:
            from edgecv.training.data import load_builtin
        except ImportError:
            raise EdgecvError(f"--calib {source} needs the train extra", "pip install 'edgecv[train]'") from None
        imgs, targets, names = load_builtin(str(source))
        for i in _spread(len(imgs), limit):
            xs.append(pre(imgs[i]))
            truth.append(spec.labels.index(names[targets[i]]) if names[targets[i]] in spec.labels else -1)
        paths = []
    else:
        from edgecv.runtimes.pipeline.sources import expand_sources

        all_paths = expand_sources([str(source)])  # a folder (recursive), a glob or one file, as `run` reads them
        paths = [all_paths[i] for i in _spread(len(all_paths), limit)]
    for p in paths:
        try:
            xs.append(pre(read_image(p, decode)))
        except ImageError:
            continue
        truth.append(spec.labels.index(p.parent.name) if p.parent.name in spec.labels else -1)
    if len(xs) < MIN_IMAGES:
        raise EdgecvError(f"--calib {source} has {len(xs)} readable images; INT8 calibration needs at least {MIN_IMAGES}",
                          "pass a folder of real images like the ones the model will see (100+ is better)")
    x, t = np.stack(xs).astype(np.float32), np.asarray(truth)
    if len(x) < 10:
        return CalibSet(x, x, t, separate=False)
    # every k-th image held out: deterministic, and spread over classes of an ImageFolder tree
    step = max(2, int(round(1 / held_out_fraction)))
    held = np.arange(len(x)) % step == step - 1
    return CalibSet(x[~held], x[held], t[held], separate=True)


def reader(input_name: str, x: np.ndarray):
    """An ONNX Runtime ``CalibrationDataReader`` over ``x``, one image per call."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.name, self.x, self.i = input_name, x, 0

        def get_next(self):
            if self.i >= len(self.x):
                return None
            self.i += 1
            return {self.name: self.x[self.i - 1:self.i]}

        def rewind(self):
            self.i = 0

    return Reader()
