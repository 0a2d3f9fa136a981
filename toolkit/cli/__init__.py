"""The ``edgecv`` command line (Typer).  Commands only parse options and call library functions;
heavy imports (torch, onnxruntime) happen inside the command that needs them."""
from __future__ import annotations

import os

# Before anything imports numpy: its small preprocessing MatMuls gain nothing from OpenBLAS threads
# and lose a lot when a capture/decode thread holds the other core (measured on a 640x480 video:
# 12.3 -> 2.4 ms per frame).  torch and ONNX Runtime use their own thread pools.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer  # noqa: E402

from edgecv import __version__
from edgecv.cli import common
from edgecv.cli.help import App

app = App(name="edgecv", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
          help="Export, run and verify PyTorch image classifiers on edge devices.")


def _version(value: bool):
    if value:
        typer.echo(f"edgecv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """Export, run and verify PyTorch image classifiers on edge devices."""
    from edgecv.log import show_notes

    show_notes()  # besides warnings, progress notes (a saved snapshot) on stderr


from edgecv.cli import app_cmd, bench_cmd, eval_cmd, export_cmd, info_cmd, models_cmd, run_cmd, serve_cmd, train_cmd, verify_cmd  # noqa: E402,F401,I001,E501


def main():
    common.install_signal_handlers()
    app()


__all__ = ["app", "main"]
