"""The one safe writer (no torch): every file edgecv writes goes through ``atomic_write``.

- A regular file is written to a temporary file in its folder, then renamed over the target: never a
  partial or clobbered file.  The temporary name carries the writer's process id
  (``.NAME.edgecv-PID-XXXX.tmp``); one left by a process that was killed is removed by the next write
  into that folder, so they never pile up.
- A target that exists and is not a regular file (``/dev/null``, a FIFO) is written directly: a
  rename over a device would replace it with a regular file.
- Refused with a one-line ``EdgecvError`` (exit 2), before anything is written: a target that is a
  symbolic link (edgecv writes through no link it did not make), a folder, one of this run's inputs
  (same path or same inode, see ``declare_inputs``), or a missing / unwritable folder.
- A failure to write (disk full, read-only file system) is an ``EdgecvError``, never silent.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from edgecv.errors import EdgecvError

_TMP = re.compile(r"^\..+\.edgecv-(\d+)-[0-9a-f]+\.tmp(\.[A-Za-z0-9]+)?$")
_inputs: set[tuple[int, int]] = set()  # (st_dev, st_ino) of the files the running command reads


def _identity(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def declare_inputs(paths) -> None:
    """Record files this run reads (images, models, calibration sets): no output may replace one.
    A folder counts with every file in it."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in p.rglob("*"):
                if f.is_file():
                    ident = _identity(f)
                    if ident:
                        _inputs.add(ident)
        else:
            ident = _identity(p)
            if ident:
                _inputs.add(ident)


@contextmanager
def inputs_declared(paths):
    """``declare_inputs`` for the duration of a ``with`` block (library callers, tests)."""
    saved = set(_inputs)
    declare_inputs(paths)
    try:
        yield
    finally:
        _inputs.clear()
        _inputs.update(saved)


def check_output(path, what: str = "output", suffixes: tuple[str, ...] | None = None,
                 inputs=()) -> Path:
    """Refuse, with one line, an output path that would destroy something (see the module doc).
    ``suffixes``: the ones this kind of file may have (a CSV written over ``photo.png`` is refused);
    devices and FIFOs are taken whatever their name."""
    if str(path) == "-":  # standard output, for the writers that take it
        return Path("-")
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise EdgecvError(f"{what} {path}: {e.strerror or e}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise EdgecvError(f"{what} {path} is a symbolic link; edgecv writes through no link it did not make",
                              "remove the link, or choose another path")
        if stat.S_ISDIR(st.st_mode):
            raise EdgecvError(f"{what} {path} is a folder", "give a file path")
        if stat.S_ISREG(st.st_mode):
            ident = (st.st_dev, st.st_ino)
            if ident in _inputs or any(_identity(p) == ident for p in inputs):
                raise EdgecvError(f"{what} {path} is also an input of this run; writing it would destroy it",
                                  "choose another path")
        else:
            return path  # a device, FIFO or socket: written directly, whatever its name
    if suffixes and path.suffix.lower() not in suffixes:
        raise EdgecvError(f"{what} {path} does not end in {' or '.join(suffixes)}",
                          f"name the file *{suffixes[0]} (this guards against writing over a file of another kind)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise EdgecvError(f"{what} folder {parent} does not exist", "create it, or choose another path")
    if not os.access(parent, os.W_OK):
        raise EdgecvError(f"{what} folder {parent} is not writable", "choose another path")
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temps(folder: Path) -> int:
    """Remove temporary files that killed edgecv processes left in ``folder``; returns how many."""
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        m = _TMP.match(name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        p = Path(folder) / name
        try:
            if stat.S_ISREG(os.lstat(p).st_mode):
                p.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def temp_path(path: Path, keep_suffix: bool = False) -> Path:
    """A fresh temporary name beside ``path`` (``keep_suffix``: ending in the target's suffix, for
    writers that choose the format by it)."""
    tail = path.suffix if keep_suffix else ""
    return path.with_name(f".{path.name}.edgecv-{os.getpid()}-{secrets.token_hex(4)}.tmp{tail}")


def atomic_write(path, write_fn, *, what: str = "output", suffixes: tuple[str, ...] | None = None,
                 inputs=(), keep_suffix: bool = False) -> Path:
    """Call ``write_fn(tmp_path)`` then rename over ``path`` (checked by ``check_output`` first);
    a device or FIFO target gets ``write_fn(path)`` directly."""
    path = check_output(path, what, suffixes, inputs)
    if os.path.exists(path) and not path.is_file():  # /dev/null, a FIFO: no rename over it
        try:
            write_fn(str(path))
        except OSError as e:
            raise EdgecvError(f"cannot write {what} {path}: {e.strerror or e}") from None
        return path
    parent = path.parent if str(path.parent) else Path(".")
    sweep_stale_temps(parent)
    tmp = temp_path(path, keep_suffix)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write_fn(str(tmp))
        if not tmp.is_file():
            raise EdgecvError(f"cannot write {what} {path}: the writer produced no file", "check free space")
        os.chmod(tmp, 0o666 & ~umask)  # temporary files start 0600; give the file the usual mode
        os.replace(tmp, path)
    except OSError as e:
        raise EdgecvError(f"cannot write {what} {path}: {e.strerror or e}", "check free space and permissions") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path, write_fn, newline: str = "", **kwargs) -> Path:
    """``write_fn(text_file)`` into a temporary file, then rename over ``path``; ``-`` is stdout."""
    if str(path) == "-":
        import sys

        write_fn(sys.stdout)
        sys.stdout.flush()
        return Path("-")

    def write(tmp):
        with open(tmp, "w", newline=newline, encoding="utf-8") as f:
            write_fn(f)

    return atomic_write(path, write, **kwargs)


def write_new(folder: Path, stem: str, suffix: str, data: bytes) -> Path:
    """Write ``data`` as a new file in ``folder`` named ``STEM.SUFFIX`` (``STEM_1.SUFFIX``, ... when
    taken), never replacing anything there and never following a link planted in it: the bytes go
    to a temporary file that is hard-linked to the first free name (which fails, atomically, if the
    name exists in any form) and then removed."""
    folder = Path(folder)
    sweep_stale_temps(folder)
    tmp = temp_path(folder / f"{stem}{suffix}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        for i in range(0, 100000):
            target = folder / (f"{stem}{suffix}" if i == 0 else f"{stem}_{i}{suffix}")
            try:
                os.link(tmp, target, follow_symlinks=False)
                return target
            except FileExistsError:
                continue
        raise EdgecvError(f"no free name for {stem}{suffix} in {folder}")
    except OSError as e:
        raise EdgecvError(f"cannot write into {folder}: {e.strerror or e}", "check free space and permissions") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def writable_folder(folder, what: str = "--save-dir") -> Path:
    """Create ``folder`` if needed and prove it writable by writing into it; one-line errors."""
    folder = Path(folder)
    if os.path.lexists(folder) and not folder.is_dir():
        raise EdgecvError(f"{what} {folder} exists and is not a folder", "give a folder path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise EdgecvError(f"{what} {folder} is not writable: {e.strerror or e}", "choose another folder") from None
    return folder


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
