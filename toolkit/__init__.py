"""edgecv: export, deploy, run and verify PyTorch image classifiers on edge devices.

The API is five calls (``edgecv.api``): ``export``, ``verify``, ``load`` (-> ``Runtime.classify``),
``evaluate``, ``bench``, on in-memory models or files.  Importing this package is cheap and never
imports torch: the deploy side (``load``, ``edgecv.runtimes``, ``edgecv run``) works on a box
without torch; ``export`` and ``verify`` import it when called.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("edgecv")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

from edgecv.errors import CheckFailed, EdgecvError, ImageError, RuntimeFailure  # noqa: E402
from edgecv.spec import ModelSpec  # noqa: E402

API = ("export", "verify", "load", "evaluate", "bench")
__all__ = [*API, "ModelSpec", "EdgecvError", "CheckFailed", "RuntimeFailure", "ImageError", "__version__"]


def __getattr__(name):
    """``edgecv.export`` and the other API calls, from ``edgecv.api`` on first use: every module may
    import ``edgecv`` (for ``__version__``) without depending on the layers the API calls into."""
    if name in API:
        import importlib

        return getattr(importlib.import_module("edgecv.api"), name)
    raise AttributeError(f"module 'edgecv' has no attribute {name!r}")
