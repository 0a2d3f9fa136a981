"""What the user asked to load: one object every model source reads (build side)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch import nn

from edgecv.spec import ModelSpec


@dataclass
class ModelRequest:
    path: Path  # weights, checkpoint, TorchScript / .pt2 archive, or a Hugging Face directory
    arch: str | None = None
    num_classes: int | None = None
    model_kwargs: dict = field(default_factory=dict)
    model_file: str | None = None  # "model.py" or "model.py:NAME" (TorchServe's --model-file)
    unsafe: bool = False
    output: str | None = None  # NAME or INDEX of the class scores among several outputs
    stated: dict = field(default_factory=dict)  # spec fields the user stated (validated by ModelSpec)
    transforms: object = None  # the user's eval transforms: a torchvision Compose, or "FILE.py:NAME"


@dataclass
class LoadedModel:
    """What ``load_model`` returns: an eval-mode module, its spec, and where it came from."""

    model: nn.Module
    spec: ModelSpec
    kind: str  # edgecv | state_dict | torchscript | exported_program | pickled_module | model_file | huggingface
    path: Path
    sha256: str
    meta: dict = field(default_factory=dict)
    fixed_batch: int | None = None  # an archive traced for one batch size only (a static .pt2)
    notes: list[str] = field(default_factory=list)  # what was inferred or assumed, in words
    # The source's own preprocessing, runnable: PIL image -> (C, H, W) float32 array as the model is fed
    # (a Hugging Face processor, timm's eval transform, the user's torchvision transforms).  The export
    # holds edgecv's deploy preprocessing to it; None where the source has none to run.
    pipeline: Callable | None = None
