"""The options that say what the model is, shared by ``export``, ``verify`` and ``info`` (and
``--imgsz`` / ``--model-arg`` by ``train``): one set of names, mirroring torchvision's transforms."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.errors import EdgecvError

PRE = "Preprocessing"  # the help panel of the options that state the model's preprocessing

Arch = Annotated[Optional[str], typer.Option(help="zoo architecture of a bare state_dict (see `edgecv models`)")]
NumClasses = Annotated[Optional[int], typer.Option(help="number of classes (default: read from the weights)")]
ModelFile = Annotated[Optional[str], typer.Option(
    help="your own model code, FILE.py[:NAME]: NAME (class or factory; default: the one nn.Module "
         "subclass in FILE) is called with --num-classes and --model-arg, then the weights are loaded")]
ModelArg = Annotated[Optional[list[str]], typer.Option(help="builder argument KEY=VALUE, repeatable")]
UnsafeLoad = Annotated[bool, typer.Option(help="allow a pickled nn.Module (runs code!)")]
Output = Annotated[Optional[str], typer.Option(
    "--class-output", help="NAME or INDEX of the class scores among several outputs (default: 'logits', else the first)")]
Imgsz = Annotated[Optional[tuple[int, int]], typer.Option(rich_help_panel=PRE, help="model input H W (CenterCrop size)")]
Resize = Annotated[Optional[str], typer.Option(rich_help_panel=PRE, 
    help="N: Resize(N), shorter side; H,W: Resize((H, W)); 'none': straight to --imgsz")]
Mean = Annotated[Optional[tuple[float, float, float]], typer.Option(rich_help_panel=PRE, help="Normalize mean R G B")]
Std = Annotated[Optional[tuple[float, float, float]], typer.Option(rich_help_panel=PRE, help="Normalize std R G B")]
Interpolation = Annotated[Optional[str], typer.Option(rich_help_panel=PRE, help="nearest | bilinear | bicubic")]
ChannelOrder = Annotated[Optional[str], typer.Option(rich_help_panel=PRE, help="RGB | BGR | GRAY (Grayscale(1))")]
Labels = Annotated[Optional[Path], typer.Option(rich_help_panel=PRE, 
    help="labels: text (one per line), JSON list, {\"0\": \"daisy\"}, TorchServe index_to_name.json, "
         "or an ImageFolder root")]
Scores = Annotated[Optional[str], typer.Option(rich_help_panel=PRE, 
    help="logits | probabilities | log_probabilities (default: detected at export)")]


def parse_resize(text: str | None):
    if text is None:
        return None
    if text.strip().lower() == "none":
        return "none"
    try:
        parts = [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) <= 0:
        raise EdgecvError(f"--resize {text!r} is not N, H,W or none", "e.g. --resize 256 or --resize 48,48")
    return parts[0] if len(parts) == 1 else tuple(parts)


def stated_spec(imgsz=None, resize=None, mean=None, std=None, interpolation=None, channel_order=None,
                labels=None, scores=None, exif_transpose=None, high_bit_depth=None) -> dict:
    """Spec fields the user stated on the command line (``None`` for unstated).  Three equal
    --mean / --std values for a GRAY model become one in ``loaders.finish.apply_stated``."""
    from edgecv.labels import read_labels

    r = parse_resize(resize)
    if r == "none":
        if not imgsz:
            raise EdgecvError("--resize none needs --imgsz H W (the size to resize to)")
        r = tuple(imgsz)  # Resize((H, W)) straight to the input
    order = channel_order.upper() if channel_order else None
    d = {"input_size": tuple(imgsz) if imgsz else None, "resize": r, "interpolation": interpolation,
         "channel_order": order,
         "mean": tuple(mean) if mean else None, "std": tuple(std) if std else None, "scores": scores,
         "exif_transpose": exif_transpose, "high_bit_depth": high_bit_depth,
         "labels": read_labels(labels) if labels is not None else None}
    return {k: v for k, v in d.items() if v is not None}
