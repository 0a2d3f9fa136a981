from pathlib import Path
from typing import Annotated

import typer

from edgecv.cli import app
from edgecv.cli import model_options as mo
from edgecv.cli.common import cli_errors, out, parse_kwargs


@app.command("info")
@cli_errors
def info_cmd(
    file: Annotated[Path, typer.Argument(help="checkpoint, weights, .pt2, TorchScript, Hugging Face directory "
                                         "or model file (.onnx)")],
    arch: mo.Arch = None,
    num_classes: mo.NumClasses = None,
    model_file: mo.ModelFile = None,
    model_arg: mo.ModelArg = None,
    class_output: mo.Output = None,
    unsafe_load: mo.UnsafeLoad = False,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
):
    """Show what a checkpoint or model file holds: arch, classes, labels, preprocessing, I/O."""
    import json

    info = _describe(file, arch=arch, num_classes=num_classes, unsafe=unsafe_load, model_file=model_file,
                     model_kwargs=parse_kwargs(model_arg), output=class_output)
    if json_out:
        out.print_json(json.dumps(info))
        return
    from rich.table import Table

    out.print(str(file), soft_wrap=True)  # the path whole on one line, however narrow the terminal
    table = Table(show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # a digest or a label list folded, never cut with an ellipsis
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
        from edgecv.runtimes.modelfile.onnx_file import describe_onnx

        return describe_onnx(path)
    try:
        from edgecv.loaders.checkpoint import describe_checkpoint
    except ImportError:
        raise EdgecvError(f"reading {path.name} needs torch", "pip install 'edgecv[export]'") from None
    return describe_checkpoint(path, **how)
