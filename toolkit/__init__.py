"""edgecv: export, deploy, run and verify PyTorch image classifiers on edge devices.

Importing this package is cheap and never imports torch: the deploy side
(``edgecv.runtimes``, ``edgecv.runtimes.pipeline.preprocess``, ``edgecv run``) must work on a box
without torch.  Build-side modules (``edgecv.models``, ``edgecv.loaders.checkpoint``,
``edgecv.training.train``, ``edgecv.exporters``) import torch themselves.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("edgecv")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

from edgecv.errors import EdgecvError  # noqa: E402
from edgecv.spec import ModelSpec  # noqa: E402

__all__ = ["EdgecvError", "ModelSpec", "__version__"]
