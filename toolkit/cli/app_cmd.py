from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.runtimes import backend_choices
from edgecv.cli.common import cli_errors


@app.command("app")
@cli_errors
def app_cmd(
    model: Annotated[Optional[str], typer.Argument(help="model file (.onnx, .engine; .pt where torch is installed)")] = None,
    sources: Annotated[Optional[list[str]], typer.Argument(help="images or folders to open")] = None,
    backend: Annotated[str, typer.Option(help=backend_choices())] = "auto",
):
    """A desktop window: open images, folders, a camera or a video, and see the top classes."""
    from edgecv.errors import EdgecvError

    try:
        from PySide6.QtWidgets import QApplication
    except ImportError as e:
        raise EdgecvError(f"the desktop app needs PySide6 ({e})", "pip install 'edgecv[app]'") from None
    from edgecv.app.window import ClassifierWindow

    qt = QApplication.instance() or QApplication([])
    window = ClassifierWindow(model, backend)
    if sources:
        window.open_paths(list(sources))
    window.resize(960, 640)
    window.show()
    raise typer.Exit(qt.exec())
