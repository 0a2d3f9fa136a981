from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli.common import cli_errors, out


@app.command("models")
@cli_errors
def models_cmd(pattern: Annotated[Optional[str], typer.Argument(help="fnmatch filter, e.g. 'odconv*'")] = None,
               json_out: Annotated[bool, typer.Option("--json", help="JSON list")] = False):
    """List the model zoo (torchvision classifiers, seed architectures; timm models as timm/<name>)."""
    import json

    from edgecv.models import list_models

    names = list_models(pattern)
    if json_out:
        out.print_json(json.dumps(names))
    else:
        for n in names:
            out.print(n, highlight=False)
