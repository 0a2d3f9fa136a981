"""Decoding images as the training side's loader saw them, with OpenCV only (no PIL).

What "as the training loader saw them" means is a part of the spec (``ModelSpec``), because
loaders differ:

- EXIF orientation: torchvision's ``ImageFolder`` loader (``Image.open(f).convert("RGB")``) does
  not apply it, so by default neither do we (``IMREAD_IGNORE_ORIENTATION``); a pipeline that used
  ``ImageOps.exif_transpose`` (edgecv's own training does) says ``exif_transpose: true`` in its spec.
- More than 8 bits per sample: ``high_bit_depth="pil"`` (default) is what PIL's ``convert("RGB")``
  does: 16-bit grey is clipped to 255, 16-bit colour keeps the high byte; ``"scale"`` maps
  0..65535 onto 0..255 (v / 257, rounded) for pipelines that scaled themselves.
- Grey and palette images become RGB; an alpha channel is dropped, not composited (as PIL does).

Decompression bombs: the declared size is read from the file header (``imagesize``, before any
pixel is decoded) and an image over ``max_pixels`` (default: Pillow's ``Image.MAX_IMAGE_PIXELS``,
89,478,485) is refused with a one-line ``ImageError``; OpenCV's own ``CV_IO_MAX_IMAGE_PIXELS`` stays
as the backstop for formats whose header we cannot read.
JPEG decoding by OpenCV and PIL (both libjpeg-turbo) is identical bit for bit.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import imagesize
import numpy as np

from edgecv.errors import ImageError
from edgecv.formats import MAX_IMAGE_PIXELS as MAX_PIXELS

HEADER_BYTES = 4 << 20  # JPEG APP segments (EXIF, ICC) come before the frame header


@dataclass(frozen=True)
class DecodeOptions:
    exif_transpose: bool = False
    high_bit_depth: str = "pil"
    max_pixels: int | None = MAX_PIXELS  # None or 0: no limit

    @classmethod
    def for_spec(cls, spec, max_pixels: int | None = MAX_PIXELS) -> "DecodeOptions":
        return cls(exif_transpose=spec.exif_transpose, high_bit_depth=spec.high_bit_depth, max_pixels=max_pixels)


def declared_size(buf: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from the header alone, or None where the format's header is not known."""
    try:
        w, h = imagesize.get(io.BytesIO(buf[:HEADER_BYTES].tobytes()), exif_rotation=False)
    except Exception:  # noqa: BLE001 - a damaged header: let the decoder say what is wrong
        return None
    return (w, h) if w > 0 and h > 0 else None


def decode(data: bytes | np.ndarray, what: str = "image", options: DecodeOptions = DecodeOptions()) -> np.ndarray:
    """Encoded bytes -> (H, W, 3) RGB uint8; ``ImageError`` (one line) on anything unreadable or too large."""
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buf.size == 0:
        raise ImageError(f"{what}: empty file")
    size = declared_size(buf)
    if size and options.max_pixels and size[0] * size[1] > options.max_pixels:
        raise ImageError(f"{what}: declares {size[0]} x {size[1]} = {size[0] * size[1] / 1e6:.0f} M pixels, over the "
                         f"limit of {options.max_pixels / 1e6:.0f} M (a decompression bomb?); not decoded",
                         "raise the limit with --max-image-pixels if you trust the file")
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
    if not options.exif_transpose:
        flags |= cv2.IMREAD_IGNORE_ORIENTATION
    img = cv2.imdecode(buf, flags)
    if img is None or img.size == 0:
        raise ImageError(f"{what}: not a decodable image (corrupt or unsupported format)")
    return to_rgb8(img, options.high_bit_depth)


def to_rgb8(img: np.ndarray, high_bit_depth: str = "pil") -> np.ndarray:
    """BGR / BGRA / grey, any depth -> RGB uint8 (converted in place where it can be)."""
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)  # PIL's convert("RGB") drops alpha
    if img.dtype == np.uint16:
        if high_bit_depth == "scale":
            img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
        elif img.ndim == 2:  # PIL: mode I;16 -> RGB clips
            img = np.minimum(img, 255).astype(np.uint8)
        else:  # PIL: 16-bit colour is read as 8-bit, keeping the high byte
            img = (img >> 8).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        img = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)  # in place: no second full-size frame


def read_image(path: str | Path, options: DecodeOptions = DecodeOptions()) -> np.ndarray:
    """(H, W, 3) RGB uint8; raises ImageError with one line on anything unreadable."""
    path = Path(path)
    try:
        data = np.fromfile(path, np.uint8)  # works with any file name, unlike cv2.imread
    except OSError as e:
        import errno

        if e.errno == errno.ELOOP:
            raise ImageError(f"{path}: a symbolic link loop") from None
        if path.is_symlink() and not path.exists():
            raise ImageError(f"{path}: a broken symbolic link (its target does not exist)") from None
        raise ImageError(f"{path}: {e.strerror or e}") from None
    return decode(data, str(path), options)
