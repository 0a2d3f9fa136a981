"""Expand SOURCES (files, folders, globs) into image paths."""
from __future__ import annotations

import glob
from pathlib import Path

from edgecv.errors import EdgecvError
from edgecv.formats import IMAGE_SUFFIXES, is_image


def expand_sources(sources: list[str]) -> list[Path]:
    """Files as given, folders recursively by image suffix (sorted), globs expanded.  A path that
    does not exist, or a folder / glob with no image, is bad input (EdgecvError)."""
    out: list[Path] = []
    for s in sources:
        p = Path(s)
        if any(ch in s for ch in "*?[") and not p.exists():
            hits = sorted(Path(h) for h in glob.glob(s, recursive=True))
            hits = [h for h in hits if h.is_file() and is_image(h)]
            if not hits:
                raise EdgecvError(f"no image matches {s!r}")
            out += hits
        elif p.is_dir():
            # broken and looping links are kept: the run reports them as unreadable, not silently fewer
            hits = sorted(f for f in p.rglob("*") if is_image(f) and (f.is_file() or f.is_symlink()))
            if not hits:
                raise EdgecvError(f"folder {s} has no images ({', '.join(IMAGE_SUFFIXES[:5])}, ...)")
            out += hits
        elif p.is_file():
            out.append(p)
        elif p.is_symlink():
            raise EdgecvError(f"{s} is a broken symbolic link", "check what it points to")
        else:
            raise EdgecvError(f"{s} does not exist", "check the path")
    return out
