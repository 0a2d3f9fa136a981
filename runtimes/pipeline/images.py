"""Decoding images as the training side (PIL ``convert('RGB')``) sees them, with OpenCV only.

- EXIF orientation is applied (OpenCV's ``imdecode`` does it for IMREAD_COLOR, as PIL's
  ``ImageOps.exif_transpose`` does).
- Grey and palette images become RGB; an alpha channel is dropped, not composited (what PIL's
  ``convert('RGB')`` does).
- 16-bit images are scaled to 8 bits (v / 257, rounded).  PIL itself clips 16-bit values to 255
  when converting, which turns most 16-bit photos white; we do not copy that.
JPEG decoding by OpenCV and PIL (both libjpeg-turbo) is identical bit for bit.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgecv.errors import ImageError


def decode(data: bytes | np.ndarray, what: str = "image") -> np.ndarray:
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    if buf.size == 0:
        raise ImageError(f"{what}: empty file")
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if img is None or img.size == 0:
        raise ImageError(f"{what}: not a decodable image (corrupt or unsupported format)")
    return to_rgb8(img)


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """BGR (any depth) -> RGB uint8."""
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        img = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) RGB uint8; raises ImageError with one line on anything unreadable."""
    path = Path(path)
    try:
        data = np.fromfile(path, np.uint8)  # works with any file name, unlike cv2.imread
    except OSError as e:
        raise ImageError(f"{path}: {e.strerror or e}") from None
    return decode(data, str(path))
