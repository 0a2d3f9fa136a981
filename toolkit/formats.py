"""One table of the file kinds edgecv reads (no torch): images, videos and streams, model files.

Everything that asks "is this an image / a video / a model, and which backend runs it" asks here.
"""
from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".mjpeg", ".mjpg",
                  ".gif", ".wmv", ".flv")
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
# Images declaring more pixels than this are refused unread (decompression bombs): Pillow's default
# Image.MAX_IMAGE_PIXELS.  `edgecv run --max-image-pixels N` raises it.
MAX_IMAGE_PIXELS = 89_478_485


def model_suffixes() -> dict[str, str]:
    """Model file suffix -> the backend that runs it, from the backends' table (``edgecv.runtimes``)."""
    from edgecv.runtimes import BACKENDS

    return {s: name for name, b in BACKENDS.items() for s in b.suffixes}


def suffix(path) -> str:
    return Path(str(path)).suffix.lower()


def is_image(path) -> bool:
    return suffix(path) in IMAGE_SUFFIXES


def is_model_file(path) -> bool:
    return suffix(path) in model_suffixes()


def backend_of(path) -> str | None:
    """The backend that runs this model file by its suffix, or None."""
    return model_suffixes().get(suffix(path))


def is_url(s: str) -> bool:
    return str(s).lower().startswith(URL_SCHEMES)


def is_stream_source(s: str) -> bool:
    """A video file, an image sequence pattern (``frame_%04d.png``) or a stream URL."""
    return is_url(s) or "%" in str(s) or str(s).lower().endswith(VIDEO_SUFFIXES)


def safe_model_name(name: str) -> str:
    """A model name that Triton, URLs and file systems all accept (letters, digits, ``_ . -``)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"
