"""The options that say what the model is, shared by ``export``, ``verify`` and ``info`` (and
``--imgsz`` / ``--model-arg`` by ``train``): one set of names, mirroring torchvision's transforms."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


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
Transforms = Annotated[Optional[str], typer.Option(
    rich_help_panel=PRE, help="your eval transforms, FILE.py:NAME (a torchvision Compose, or a function returning "
    "one): they state the preprocessing, and the export checks edgecv's against them")]
Scores = Annotated[Optional[str], typer.Option(rich_help_panel=PRE, 
    help="logits | probabilities | log_probabilities (default: detected at export)")]


from edgecv.stated import parse_resize, stated_spec  # noqa: E402,F401  (the parsing the API shares)
