"""Deploy-side preprocessing (numpy + OpenCV, no torch, no PIL) faithful to torchvision on PIL.

Training runs ``Resize(resize) -> CenterCrop(input_size) -> ToTensor -> Normalize`` on PIL images,
and PIL's resize is an antialiased, separable filter whose support grows with the down-scale
factor; ``cv2.resize`` is not (INTER_LINEAR leaves a mean abs difference of ~0.035 in normalised
units on real photos).  :func:`resize_crop_chw` reimplements Pillow's ``ImagingResample`` for 8-bit
images: the same filter weights, the same 22-bit fixed-point coefficients, horizontal pass first
with a uint8 intermediate.  The passes run as block-banded float32 MatMuls (see ``_Band``); only the
rows and columns that survive the centre crop are computed, and the plans are cached per input
size (video frames).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edgecv.errors import EdgecvError
from edgecv.spec import ModelSpec

PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point precision for 8-bit images


def _bilinear(x):
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _bicubic(x, a=-0.5):
    x = np.abs(x)
    return np.where(x < 1.0, ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
                    np.where(x < 2.0, (((x - 5.0) * x + 8.0) * x - 4.0) * a, 0.0))


_FILTERS = {"bilinear": (_bilinear, 1.0), "bicubic": (_bicubic, 2.0)}


def _torch_precision(w: np.ndarray) -> int:
    """torch's antialiased uint8 kernel stores weights as int16: the most fraction bits (at most 22)
    with which twice the largest weight still fits."""
    wmax = float(np.abs(w).max()) if w.size else 0.0
    bits = 0
    while bits < 22 and int(0.5 + wmax * (1 << (bits + 1))) < (1 << 15):
        bits += 1
    return bits


@lru_cache(maxsize=64)
def _coeffs(in_size: int, out_size: int, interpolation: str, resampler: str = "pillow12"):
    """(xmin (out,), float64 weights (out, ksize)): Pillow's precompute_coeffs + normalize_coeffs_8bpc
    (22-bit fixed point), or torch's antialiased uint8 kernel (the same filters, int16 weights)."""
    if interpolation == "nearest" and resampler == "torch":  # torch's "nearest": floor(dst x scale)
        src = np.minimum(np.floor(np.arange(out_size) * (in_size / out_size)).astype(np.int64), in_size - 1)
        return src, np.ones((out_size, 1))
    if interpolation == "nearest":
        # Pillow's ImagingScaleAffine: the source coordinate is accumulated by repeated double
        # additions (xo = scale/2; xo += scale), and that rounding decides some pixels.
        scale = in_size / out_size
        steps = np.full(out_size, scale)
        steps[0] = scale * 0.5
        src = np.minimum(np.add.accumulate(steps).astype(np.int64), in_size - 1)
        return src, np.ones((out_size, 1))
    fn, support = _FILTERS[interpolation]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    centers = (np.arange(out_size) + 0.5) * scale
    xmin = np.maximum(np.trunc(centers - support + 0.5).astype(np.int64), 0)
    xmax = np.minimum(np.trunc(centers + support + 0.5).astype(np.int64), in_size) - xmin
    taps = np.arange(ksize)
    w = fn((taps[None, :] + xmin[:, None] - centers[:, None] + 0.5) / filterscale)
    w = np.where(taps[None, :] < xmax[:, None], w, 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = np.divide(w, total, out=w, where=total != 0)
    bits = _torch_precision(w) if resampler == "torch" else PRECISION_BITS
    scaled = w * (1 << bits)
    k = np.where(scaled < 0, np.trunc(scaled - 0.5), np.trunc(scaled + 0.5))
    return xmin, k / (1 << bits)


class _Band:
    """One separable pass as a block-banded MatMul (BLAS) instead of a per-tap gather loop.

    Output positions are grouped in blocks of ``BLOCK``; each block reads one window of ``width``
    consecutive inputs, so the pass is ``windows (nb, P, width) @ weights (nb, width, BLOCK)``.
    Weights are the fixed-point coefficients / 2^bits (Pillow: 22 bits; torch: its int16 precision);
    the sums are rounded half-up and clipped to 0..255 as Pillow's ``clip8`` (and torch) do.  The MatMul
    runs in float32: off by one grey level on ~0.01% of pixels.  ``exact``: the sums that land within
    ``NEAR_HALF`` of a rounding boundary are redone in float64, which makes the pass bit-exact
    (all-float64 was 1.6-2.9x slower).
    """

    BLOCK = 16

    def __init__(self, n_in: int, xmin: np.ndarray, k: np.ndarray, dtype=np.float32, exact: bool = False):
        n_out, ks = k.shape
        nb = -(-n_out // self.BLOCK)
        w = k.astype(np.float64)
        starts = xmin[:: self.BLOCK].copy()
        ends = [min(int(np.max(xmin[b * self.BLOCK:(b + 1) * self.BLOCK] + ks)), n_in) for b in range(nb)]
        width = min(max(e - st for st, e in zip(starts, ends)), n_in)
        starts = np.minimum(starts, n_in - width)
        weights = np.zeros((nb, width, self.BLOCK), dtype)
        taps = np.arange(ks)
        for j in range(n_out):
            b, jj = divmod(j, self.BLOCK)
            pos = xmin[j] - starts[b] + taps
            ok = (pos >= 0) & (pos < width) & (w[j] != 0)
            np.add.at(weights[b, :, jj], pos[ok], w[j][ok])
        self.starts, self.width, self.weights, self.n_out, self.dtype = starts, width, weights, n_out, dtype
        self.exact = exact

    def windows(self, x: np.ndarray, axis: int) -> np.ndarray:
        return sliding_window_view(x, self.width, axis=axis)[(slice(None),) * axis + (self.starts,)]

    def matmul(self, g: np.ndarray) -> np.ndarray:
        out = np.matmul(g, self.weights)
        if not self.exact:
            np.floor(out + 0.5, out=out)
            return np.clip(out, 0, 255, out=out)
        # float32 sums are off by ~1e-5 at most; only a sum that close to k + 0.5 can round the wrong
        # way, so those few (~0.1% of pixels) are summed again in float64, where Pillow's fixed-point
        # sums are exact: the pass is bit-exact at float32 speed.
        rounded = out + 0.5
        np.floor(rounded, out=rounded)
        out -= rounded  # in [-0.5, 0.5): near +-0.5 is near a rounding boundary
        np.abs(out, out=out)
        near = out > 0.5 - NEAR_HALF
        if near.any():
            b, p, j = np.nonzero(near)
            exact = np.einsum("nk,nk->n", g[b, p].astype(np.float64), self.weights[b, :, j].astype(np.float64))
            rounded[b, p, j] = np.floor(exact + 0.5)
        return np.clip(rounded, 0, 255, out=rounded)


@lru_cache(maxsize=32)
def _plan(h, w, oh, ow, th, tw, interpolation, crop_rule="round", resampler="pillow12"):
    top, left = crop_box(oh, ow, th, tw, crop_rule)
    horiz = vert = None
    first, last = top, top + th
    if ow != w:
        xmin, k = _coeffs(w, ow, interpolation, resampler)
        horiz = _Band(w, xmin[left:left + tw], k[left:left + tw], exact=interpolation in EXACT)
    if oh != h:
        ymin, kv = _coeffs(h, oh, interpolation, resampler)
        ymin, kv = ymin[top:top + th], kv[top:top + th]
        first, last = int(ymin[0]), int(min(ymin[-1] + kv.shape[1], h))
        vert = _Band(last - first, ymin - first, kv, exact=interpolation in EXACT)
    return horiz, vert, first, last, left


ROW_BAND = 256  # rows per horizontal-pass MatMul: bounds memory on large photos
# The passes are bit-exact with Pillow: a float32 sum within NEAR_HALF of k + 0.5 is summed again in
# float64 (see ``_Band.matmul``; 1.1-1.75x the float32 resize, `python benchmarks/resize_exact.py`).
# Float32 alone was off by one grey level on ~0.07% of pixels at random scales, but on ~3% at
# rational ones (a 1.5x bilinear upscale, where Pillow's fixed-point sums sit on the rounding
# boundary), and bicubic's negative lobes amplified an off-by-one of the first pass into two grey
# levels (torchvision's efficientnet_b7 at 600 px, found by the coverage sweep's preprocessing check).
NEAR_HALF = 2e-3
EXACT = ("bilinear", "bicubic")


def _horizontal(horiz: _Band, rows_img: np.ndarray, tw: int) -> np.ndarray:
    """The horizontal pass of (R, W, C) uint8 rows -> (C, tw, R) float32."""
    rows, c = rows_img.shape[0], rows_img.shape[2]
    g = horiz.windows(rows_img, 1)  # R, nb, C, width (uint8 gather)
    nb = g.shape[1]
    g = g.transpose(1, 0, 2, 3).astype(np.float32).reshape(nb, rows * c, horiz.width)
    return horiz.matmul(g).reshape(nb, rows, c, -1).transpose(2, 0, 3, 1).reshape(c, -1, rows)[:, :tw]


def vertical_first(h: int, w: int, oh: int, ow: int, resampler: str) -> bool:
    """Whether the resampler resizes the rows before the columns (Pillow 13, when the height shrinks
    by more than twice as many pixels as the width; see ``ModelSpec.resampler``)."""
    return resampler == "pillow13" and oh < h and (h - oh) > 2 * (w - ow)


def resize_crop_chw(img: np.ndarray, out_hw, crop_hw, interpolation="bilinear", crop_rule: str = "round",
                    pad_rule: str = "floor", resampler: str = "pillow12", fill=()) -> np.ndarray:
    """PIL ``resize(out_hw)`` + a centre crop to ``crop_hw`` of an (H, W, C) uint8 image, returned as
    float32 (C, th, tw) holding integer grey levels.  ``crop_rule`` / ``pad_rule`` / ``order``: see
    ``ModelSpec``.  Only the rows and columns that survive the crop are computed; the plan is cached
    per input size (video frames)."""
    h, w, c = img.shape
    (oh, ow), (th, tw) = out_hw, crop_hw
    if interpolation != "nearest" and vertical_first(h, w, oh, ow, resampler):
        # the vertical pass first is the horizontal-first order on the transposed image
        t = resize_crop_chw(img.transpose(1, 0, 2), (ow, oh), (tw, th), interpolation, crop_rule, pad_rule,
                            fill=fill)
        return np.ascontiguousarray(t.transpose(0, 2, 1))
    if th > oh or tw > ow:  # too small: padded to the crop first (zeros in torchvision and HF; ``fill``)
        full = resize_crop_chw(img, out_hw, (oh, ow), interpolation, resampler=resampler)
        ph, pw = max(th - oh, 0), max(tw - ow, 0)
        before = (ph // 2, pw // 2) if pad_rule == "floor" else ((ph + 1) // 2, (pw + 1) // 2)
        pad = ((before[0], ph - before[0]), (before[1], pw - before[1]))
        full = np.stack([np.pad(ch, pad, constant_values=(fill[i] if fill else 0)) for i, ch in enumerate(full)])
        top, left = crop_box(full.shape[1], full.shape[2], th, tw, crop_rule)
        return full[:, top:top + th, left:left + tw]
    horiz, vert, first, last, left = _plan(h, w, oh, ow, th, tw, interpolation, crop_rule, resampler)
    if horiz is None:  # (C, tw, R)
        t = img[first:last, left:left + tw].transpose(2, 1, 0).astype(np.float32)
    else:  # in bands of rows: the float32 gather of a 6000 x 4000 photo would otherwise take ~270 MB
        t = np.concatenate([_horizontal(horiz, img[r:min(r + ROW_BAND, last)], tw)
                            for r in range(first, last, ROW_BAND)], axis=2)
    if vert is None:
        return np.ascontiguousarray(t.transpose(0, 2, 1))
    g = vert.windows(t, 2)  # C, tw, nb, width
    nb = g.shape[2]
    g = g.transpose(2, 0, 1, 3).reshape(nb, c * tw, vert.width)
    v = vert.matmul(g)  # nb, C*tw, BLOCK
    return v.reshape(nb, c, tw, -1).transpose(1, 0, 3, 2).reshape(c, -1, tw)[:, :th]


def resized_size(h: int, w: int, resize, input_size, edge: str = "shorter") -> tuple[int, int]:
    """torchvision ``Resize``: an int resizes the shorter side (the longer is truncated), (H, W) is
    exact, ``None`` means exactly ``input_size``.  ``edge="longer"``: timm's ``ResizeKeepRatio``
    (longest=1), the image scaled to fit inside ``resize`` (an int: a square), each side rounded."""
    if resize is None:
        return tuple(input_size)
    if edge == "longer":
        bh, bw = (resize, resize) if isinstance(resize, int) else resize
        ratio = max(h / bh, w / bw)
        return max(int(round(h / ratio)), 1), max(int(round(w / ratio)), 1)
    if isinstance(resize, (tuple, list)):
        return int(resize[0]), int(resize[1])
    short, long = (h, w) if h <= w else (w, h)
    new_short, new_long = resize, int(resize * long / short)
    return (new_short, new_long) if h <= w else (new_long, new_short)


def crop_box(h: int, w: int, th: int, tw: int, rule: str = "round") -> tuple[int, int]:
    """Centre-crop offsets (top, left) for an image at least as large as the crop: torchvision's
    ``CenterCrop`` rounds half the margin (``round``, Python's: half to even), Hugging Face's
    processors floor it (``floor``)."""
    if rule == "floor":
        return (h - th) // 2, (w - tw) // 2
    return int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))


def to_gray(img: np.ndarray, order: str = "RGB") -> np.ndarray:
    """PIL ``convert('L')``: ITU-R 601-2 luma in Pillow's 16-bit fixed point."""
    out = np.empty(img.shape[:2], np.uint8)
    ri, gi, bi = (0, 1, 2) if order == "RGB" else (2, 1, 0)
    for r0 in range(0, img.shape[0], ROW_BAND):  # in bands: uint32 copies of a whole photo are large
        band = img[r0:r0 + ROW_BAND]
        r, g, b = (band[..., i].astype(np.uint32) for i in (ri, gi, bi))
        out[r0:r0 + ROW_BAND] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
    return out


EMBEDDED_KEY = "embedded_preprocessing"  # spec.extra of a file made with --embed-preprocessing


def takes_raw_images(spec: ModelSpec) -> bool:
    """Whether the model file does its own preprocessing (``--embed-preprocessing``): it takes the
    decoded uint8 (N, H, W, 3) RGB images, not normalised tensors."""
    return bool((spec.extra or {}).get(EMBEDDED_KEY))


class Preprocessor:
    """RGB uint8 (H, W, 3) -> float32 (C, H, W) as the spec says.  Call ``batch`` for many."""

    def __init__(self, spec: ModelSpec, embedded_ok: bool = False):
        """``embedded_ok``: the spec of a file with its preprocessing embedded, to compute what that
        graph must give (verify, the export check); a runtime feeding such a file tensors is refused."""
        if takes_raw_images(spec) and not embedded_ok:
            raise EdgecvError(f"{spec.arch}: this file has its preprocessing embedded (it takes raw uint8 images), "
                              "not normalised tensors", "use the export without --embed-preprocessing here")
        if spec.interpolation not in ("nearest", "bilinear", "bicubic"):
            raise EdgecvError(f"interpolation {spec.interpolation!r} is not supported for deploy")
        self.spec = spec
        std = np.asarray(spec.std, np.float32).reshape(-1, 1, 1)
        # (v / 255 - mean) / std as one multiply-add on the grey levels
        self.scale = (1.0 / (255.0 * std)).astype(np.float32)
        self.shift = (-np.asarray(spec.mean, np.float32).reshape(-1, 1, 1) / std).astype(np.float32)

    def __call__(self, img: np.ndarray, order: str = "RGB") -> np.ndarray:
        """(H, W, 3) uint8 in ``order`` (RGB, or BGR as OpenCV decodes), or (H, W) grey ->
        (C, H, W) float32, normalised.  BGR input saves a full-frame conversion: channels are
        reordered on the small output instead."""
        s = self.spec
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if s.channel_order == "GRAY":
            img = to_gray(img, order)[..., None]
        out_hw = resized_size(img.shape[0], img.shape[1], s.resize, s.input_size, s.resize_edge)
        x = resize_crop_chw(img, out_hw, s.input_size, s.interpolation, s.crop_rule, s.pad_rule, s.resampler,
                            s.fill_in(order))
        if s.channel_order != "GRAY" and s.channel_order != order:
            x = x[::-1]
        return x * self.scale + self.shift

    def batch(self, images) -> np.ndarray:
        return np.stack([self(im) for im in images]).astype(np.float32, copy=False)


class RawImages:
    """The "preprocessing" of a file with its preprocessing embedded (``--embed-preprocessing``): the
    graph does it all, so an image is only brought to RGB uint8 (H, W, 3) (grey repeated, BGR
    reordered).  The same calls as ``Preprocessor``: ``pre(img, order)``, ``pre.batch(images)``."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec

    def __call__(self, img: np.ndarray, order: str = "RGB") -> np.ndarray:
        if img.ndim == 2 or img.shape[2] == 1:
            return np.ascontiguousarray(np.repeat(img.reshape(*img.shape[:2], 1), 3, axis=2))
        return np.ascontiguousarray(img[..., ::-1] if order == "BGR" else img)

    def batch(self, images) -> np.ndarray:
        """Images of one size as one (N, H, W, 3) batch."""
        return np.stack([self(im) for im in images])


def preprocessor_for(spec: ModelSpec):
    """What turns a decoded image into the model file's input: ``Preprocessor``, or ``RawImages`` for a
    file with its preprocessing embedded."""
    return RawImages(spec) if takes_raw_images(spec) else Preprocessor(spec)
