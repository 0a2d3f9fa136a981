"""Loading model files from strangers without running their code (build side).

A pickle can run any code while it is read.  edgecv reads pickles only with torch's weights-only
unpickler (tensors, containers, numbers, strings) and never falls back to the full one unless the
user passes ``--unsafe-load``.  ``torch.export.load`` (``.pt2``) is the hard case: it reads the
archive's pickles with ``weights_only=False``, retries a failed weights-only read with the full
unpickler, unpickles "opaque" constants with plain ``pickle.loads`` and loads AOTInductor shared
libraries (native code) found in the archive.  ``guarded_torch_loads`` holds every one of those
entry points to weights-only reading for the duration of the load, and ``refuse_native_code``
refuses archives that carry compiled code before anything is read.
"""
from __future__ import annotations

import contextlib
import logging
import pickle
import zipfile
from pathlib import Path

from edgecv.errors import EdgecvError

UNSAFE_HINT = "pass --unsafe-load only if you trust the file"
NATIVE = (".so", ".dll", ".dylib", ".pyd", ".cubin", ".o")


def pickled_objects(path) -> EdgecvError:
    return EdgecvError(f"{path} holds pickled Python objects, and unpickling them can run arbitrary code",
                       UNSAFE_HINT)


def refuse_native_code(path: Path) -> None:
    """An archive with compiled code in it (AOTInductor packages) would load a shared library."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return  # not a zip: the loader will say what it is
    native = [n for n in names if "/aotinductor/" in f"/{n}" or n.lower().endswith(NATIVE)]
    if native:
        raise EdgecvError(f"{path} carries compiled code ({native[0]}), which loading it would run", UNSAFE_HINT)


class _Refused(pickle.UnpicklingError):
    pass


@contextlib.contextmanager
def guarded_torch_loads(path, enabled: bool = True):
    """Inside the block, ``torch.load`` reads weights only whatever its caller asks, and plain
    ``pickle.load(s)`` and torch's custom-object unpickler refuse; a refusal becomes the one-line
    ``--unsafe-load`` error.  torch's own warnings about the failed read are kept off the terminal."""
    if not enabled:
        yield
        return
    import torch

    real_load = torch.load

    def weights_only_load(f, *args, **kwargs):
        kwargs["weights_only"] = True
        return real_load(f, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise _Refused("edgecv refuses to unpickle Python objects")

    patches = [(torch, "load", weights_only_load), (pickle, "load", refuse), (pickle, "loads", refuse)]
    if hasattr(torch._C, "_pickle_load_obj"):
        patches.append((torch._C, "_pickle_load_obj", refuse))
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # torch logs the failed read with a traceback
    for obj, name, new in patches:
        setattr(obj, name, new)
    try:
        yield
    except Exception as e:  # noqa: BLE001 - which type torch wraps the refusal in varies
        if _refusal(e):
            raise pickled_objects(path) from None
        raise
    finally:
        for obj, name, old in saved:
            setattr(obj, name, old)
        logging.disable(previous)


def refused_global(text: str) -> bool:
    """torch's weights-only unpickler met a global it does not allow (an object, a function): the
    file holds pickled Python objects, as opposed to being damaged."""
    return "Unsupported global" in text or "GLOBAL" in text


def _refusal(e: BaseException) -> bool:
    """A weights-only refusal or ours, possibly wrapped by torch in another exception."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        text = str(e)
        if isinstance(e, _Refused) or refused_global(text) or "edgecv refuses to unpickle" in text:
            return True
        e = e.__cause__ or e.__context__
    return False
