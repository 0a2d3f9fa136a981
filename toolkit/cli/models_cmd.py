from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli.common import cli_errors, out


@app.command("models")
@cli_errors
def models_cmd(pattern: Annotated[Optional[str], typer.Argument(help="a part of the name (swin), or an fnmatch "
                                                                "filter ('odconv*')")] = None,
               json_out: Annotated[bool, typer.Option("--json", help="JSON list")] = False):
    """List the model zoo (torchvision classifiers, seed architectures; any timm model as timm/<name>)."""
    import json

    from edgecv.catalog import match, model_names

    names = match(pattern, model_names())  # read from the source: no torch import
    if json_out:
        out.print_json(json.dumps(names))
        return
    for n in names:
        out.print(n)
    if not names:
        from edgecv.cli.common import err

        err.print(f"no model name contains {pattern!r}; `edgecv models` lists them all (timm models: "
                  "timm/<name>)")
