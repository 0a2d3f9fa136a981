"""Atomic file writes (no torch): a temporary file in the target folder, then a rename; file digests."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from edgecv.errors import EdgecvError


def atomic_write(path: str | os.PathLike, write_fn) -> Path:
    """Call ``write_fn(tmp_path)`` then rename over ``path``: never a partial or clobbered file."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise EdgecvError(f"output folder {parent} does not exist", "create it or choose another -o")
    if not os.access(parent, os.W_OK):
        raise EdgecvError(f"output folder {parent} is not writable", "choose another -o")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write_fn(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except OSError as e:
        raise EdgecvError(f"cannot write {path}: {e.strerror or e}", "check free space and permissions") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path, write_fn, newline: str = "") -> Path:
    """``write_fn(text_file)`` into a temporary file, then rename over ``path``."""

    def write(tmp):
        with open(tmp, "w", newline=newline, encoding="utf-8") as f:
            write_fn(f)

    return atomic_write(path, write)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
