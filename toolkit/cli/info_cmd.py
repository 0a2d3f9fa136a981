from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli.common import cli_errors, out


@app.command("info")
@cli_errors
def info_cmd(
    file: Annotated[Path, typer.Argument(help="checkpoint (.pt/.pth/.pt2) or model file (.onnx)")],
    arch: Annotated[Optional[str], typer.Option(help="arch of a bare state_dict")] = None,
    num_classes: Annotated[Optional[int], typer.Option(help="classes of a bare state_dict")] = None,
    unsafe_load: Annotated[bool, typer.Option(help="allow a pickled nn.Module (runs code!)")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
):
    """Show what a checkpoint or model file holds: arch, classes, labels, preprocessing, I/O."""
    import json

    info = _describe(file, arch=arch, num_classes=num_classes, unsafe=unsafe_load)
    if json_out:
        out.print_json(json.dumps(info))
        return
    from rich.table import Table

    table = Table(show_header=False, title=str(file))
    for k, v in info.items():
        table.add_row(k, v if isinstance(v, str) else json.dumps(v))
    out.print(table)


def _describe(path: Path, **how) -> dict:
    """ONNX files are read on the deploy side (no torch); everything else needs the build side."""
    from edgecv.errors import EdgecvError
    from edgecv.formats import suffix

    if not path.exists():
        raise EdgecvError(f"{path} does not exist")
    if suffix(path) == ".onnx":
        from edgecv.runtimes.backends.onnx_meta import describe_onnx

        return describe_onnx(path)
    try:
        from edgecv.loaders.checkpoint import describe_checkpoint
    except ImportError:
        raise EdgecvError(f"reading {path.name} needs torch", "pip install 'edgecv[export]'") from None
    return describe_checkpoint(path, **how)
