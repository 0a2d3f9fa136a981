"""Shared by the archive sources: the member list of a zip file, the embedded edgecv spec."""
from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path

from edgecv.spec import ModelSpec


@lru_cache(maxsize=8)
def _names(path: str, mtime: float) -> tuple[str, ...] | None:
    try:
        with zipfile.ZipFile(path) as z:
            return tuple(z.namelist())
    except (zipfile.BadZipFile, OSError):
        return None


def zip_names(path: Path):
    return _names(str(path), path.stat().st_mtime) if path.is_file() else None


def embedded_spec(extra: dict) -> ModelSpec | None:
    text = extra.get("edgecv_spec.json")
    if isinstance(text, bytes):
        text = text.decode()
    if not text:
        return None
    return ModelSpec.from_json(text).with_saved_provenance()
