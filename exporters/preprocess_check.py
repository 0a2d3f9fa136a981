"""The export's preprocessing self-check: the source's own pipeline against edgecv's deploy side.

Where the model's source can run its preprocessing (a Hugging Face image processor, timm's eval
transform, the user's torchvision transforms, edgecv's own training pipeline), both run on the same
images (the sample photos and synthetic images of odd sizes, smaller than the crop among them) and
their tensors are compared in grey levels (|difference| x std x 255).  Over one grey level, the
export stops and names the first step that differs: size, channel order, normalisation, crop offset
or the resize itself.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from edgecv.spec import ModelSpec

TOLERANCE = 1.0  # grey levels: PIL's resampling in float32 differs by one on rare pixels
# (height, width) of the synthetic images, relative to the model's input: odd and even margins,
# portrait and landscape, one smaller than the crop in each direction
SHAPES = ((1.23, 1.61), (1.61, 1.23), (1.0, 1.37), (1.49, 1.0), (0.61, 0.83), (2.07, 2.97))


@dataclass
class PreprocessCheck:
    source: str
    images: int
    max_grey: float  # worst |source - edgecv| over every pixel, in grey levels
    over: int  # images that differ by more than the tolerance
    step: str | None = None  # the first step that differs, when they do
    tolerance: float = TOLERANCE

    @property
    def ok(self) -> bool:
        return self.over == 0

    def describe(self) -> str:
        text = f"max diff {self.max_grey:.2g} grey levels vs {self.source} on {self.images} images"
        return text if self.ok else f"{text}; {self.over} over {self.tolerance:g}: {self.step}"

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def check_images(spec: ModelSpec, seed: int = 0) -> list:
    """The sample photos and synthetic photo-like images (smooth shapes, texture, noise) whose sizes
    put odd and even margins around the crop."""
    from PIL import Image, ImageDraw, ImageFilter

    from edgecv.assets import sample_photos

    images = [Image.open(p).convert("RGB") for p in sample_photos()]
    rng = np.random.default_rng(seed)
    h0, w0 = spec.input_size
    for fh, fw in SHAPES:
        h, w = max(int(h0 * fh) | 1, 3), max(int(w0 * fw), 3)
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) * 127 // max(h + w, 1))], 2)
        im = Image.fromarray(np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(im)
        for _ in range(6):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            draw.ellipse((x0, y0, x0 + int(rng.integers(2, w // 2 + 3)), y0 + int(rng.integers(2, h // 2 + 3))),
                         fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        images.append(im.filter(ImageFilter.SMOOTH))
    return images


def _deploy(spec: ModelSpec, im) -> np.ndarray:
    from edgecv.runtimes.pipeline.preprocess import Preprocessor

    return Preprocessor(spec, embedded_ok=True)(np.asarray(im.convert("RGB")))


def _grey(a: np.ndarray, b: np.ndarray, spec: ModelSpec) -> float:
    std = np.asarray(spec.std, np.float64).reshape(-1, 1, 1)
    return float((np.abs(a.astype(np.float64) - b) * std * 255.0).max())


def check_preprocessing(pipeline, spec: ModelSpec, images=None, name: str | None = None,
                        tolerance: float = TOLERANCE) -> PreprocessCheck:
    """``pipeline``: PIL image -> (C, H, W) array, the source's own.  Every image through both."""
    images = check_images(spec) if images is None else list(images)
    source = name or getattr(pipeline, "__name__", "the source's pipeline")
    worst, over, first_bad = 0.0, 0, None
    for im in images:
        theirs = np.asarray(pipeline(im), np.float32)
        ours = _deploy(spec, im)
        if theirs.shape != ours.shape:
            step = (f"size: {source} gives {'x'.join(map(str, theirs.shape))}, edgecv "
                    f"{'x'.join(map(str, ours.shape))}")
            return PreprocessCheck(source, len(images), float("inf"), len(images), step, tolerance)
        g = _grey(theirs, ours, spec)
        worst = max(worst, g)
        if g > tolerance + 1e-3:
            over += 1
            first_bad = first_bad or (im, theirs, ours)
    step = diagnose(spec, *first_bad, tolerance=tolerance) if first_bad else None
    return PreprocessCheck(source, len(images), worst, over, step, tolerance)


def diagnose(spec: ModelSpec, im, theirs: np.ndarray, ours: np.ndarray, tolerance: float = TOLERANCE) -> str:
    """Which step makes the source's tensor and edgecv's differ (one image, same shape)."""
    close = lambda a, b, s=spec: _grey(a, b, s) <= tolerance + 0.05  # noqa: E731 (a fit adds its own rounding)
    if ours.shape[0] == 3 and close(theirs, ours[::-1]):
        other = "BGR" if spec.channel_order == "RGB" else "RGB"
        return f"channel order: the source feeds {other}, the spec says {spec.channel_order}"
    fit = [np.polyfit(ours[c].ravel(), theirs[c].ravel(), 1) for c in range(ours.shape[0])]
    fitted = np.stack([k * ours[c] + d for c, (k, d) in enumerate(fit)])
    if close(theirs, fitted) and any(abs(k - 1) > 1e-3 or abs(d) > 1e-3 for k, d in fit):
        return ("normalisation: the source's values are " + ", ".join(f"{k:.3g} x edgecv's {d:+.3g}" for k, d in fit)
                + " per channel (mean / std or rescaling differ)")
    for crop_rule in ("round", "floor"):
        for pad_rule in ("floor", "ceil"):
            if (crop_rule, pad_rule) != (spec.crop_rule, spec.pad_rule):
                variant = replace(spec, crop_rule=crop_rule, pad_rule=pad_rule)
                if close(theirs, _deploy(variant, im)):
                    return (f"crop offset: the source's centre crop matches crop_rule {crop_rule} / pad_rule "
                            f"{pad_rule}, the spec says {spec.crop_rule} / {spec.pad_rule}")
    for interp in ("nearest", "bilinear", "bicubic"):
        if interp != spec.interpolation and close(theirs, _deploy(replace(spec, interpolation=interp), im)):
            return f"interpolation: the source resamples {interp}, the spec says {spec.interpolation}"
    return "resize: the resized pixels differ (the size resized to, or the resampling filter)"
