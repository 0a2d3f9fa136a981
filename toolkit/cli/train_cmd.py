from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli.common import cli_errors, err, parse_kwargs


@app.command("train")
@cli_errors
def train_cmd(
    data: Annotated[str, typer.Argument(help="ImageFolder directory, or a built-in set: digits, mnist5k")],
    arch: Annotated[str, typer.Option("--arch", "-a", help="registry name (see `edgecv models`)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="checkpoint to write (best epoch)")] = Path("model.pt"),
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    lr: float = 1e-3,
    optimizer: Annotated[str, typer.Option(help="adam | adamw | sgd")] = "adam",
    imgsz: Annotated[Optional[tuple[int, int]], typer.Option(help="model input H W (as on export)")] = None,
    img_size: Annotated[Optional[int], typer.Option(hidden=True, help="old name of --imgsz N N")] = None,
    augment: Annotated[bool, typer.Option(help="rotation / random-resized-crop (/ flip for photos)")] = True,
    freeze_backbone: Annotated[bool, typer.Option(help="train only the classifier head")] = False,
    loss: Annotated[str, typer.Option(help="ce | adaptive (focal + class-balanced)")] = "ce",
    val_split: Annotated[float, typer.Option(min=0.01, max=0.9)] = 0.2,
    seed: int = 0,
    model_arg: Annotated[Optional[list[str]], typer.Option(help="builder argument KEY=VALUE, repeatable")] = None,
):
    """Train a zoo model on a folder or a built-in set; keeps the best checkpoint."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from edgecv.models import get_entry
    from edgecv.training.train import TrainConfig, train

    get_entry(arch)  # fail on a bad arch before any progress output

    cfg = TrainConfig(data=data, arch=arch, out=out, epochs=epochs, batch_size=batch_size, lr=lr,
                      optimizer=optimizer, img_size=_img_size(imgsz, img_size), augment=augment,
                      freeze_backbone=freeze_backbone, loss=loss, seed=seed, val_split=val_split,
                      model_kwargs=parse_kwargs(model_arg))
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as progress:
        result = train(cfg, progress)
    err.print(f"best val_acc {result.best_acc:.4f} at epoch {result.best_epoch} "
              f"in {result.seconds:.1f}s -> {result.out}")


def _img_size(imgsz, img_size):
    if imgsz is None:
        return img_size
    h, w = imgsz
    return h if h == w else (h, w)
