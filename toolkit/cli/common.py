"""Shared CLI plumbing: one-line errors with exit codes, consoles on stdout/stderr."""
from __future__ import annotations

import functools
import os
import signal
import sys

import typer
from rich.console import Console, ConsoleDimensions

from edgecv.errors import EdgecvError

# Outside a terminal (a pipe, a file, a CI log) rich would assume 80 columns and squeeze tables
# into 5-character cells; there nothing is gained by wrapping, so tables get their natural width.
# Decided at each print (the stream may be swapped after import); an explicit COLUMNS still wins.
PIPE_WIDTH = 400


class _Console(Console):
    @property
    def size(self):
        size = super().size
        if self._width is None and "COLUMNS" not in os.environ and not self.is_terminal:
            return ConsoleDimensions(PIPE_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size):
        Console.size.fset(self, new_size)


def console(stderr: bool = False, **kwargs) -> Console:
    """Paths, labels and model names are data from strangers: never read as markup (a ``[`` in a
    folder name would crash the formatter or restyle the line) nor highlighted.  Styling is explicit:
    ``styled``."""
    return _Console(stderr=stderr, markup=False, highlight=False, **kwargs)


out = console()  # results
err = console(stderr=True, soft_wrap=True)  # progress, warnings, summaries


def styled(*parts) -> "Text":  # noqa: F821
    """A line of plain strings and ``(text, style)`` pairs: styles apply, no text is parsed."""
    from rich.text import Text

    return Text.assemble(*parts)


def cli_errors(fn):
    """Turn EdgecvError into one line on stderr and its exit code (2 = bad input, 1 = check failed)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from edgecv.fileio import inputs_declared

        try:
            with inputs_declared(()):  # the files one command reads are its own (CliRunner runs many)
                return fn(*args, **kwargs)
        except EdgecvError as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


def install_signal_handlers():
    # SIGTERM behaves like Ctrl-C, so temporary files are cleaned up by the same paths.
    def _term(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _term)
    except ValueError:  # not in the main thread
        pass


def runtime_options(providers: str | None, threads: int | None) -> dict:
    """``--providers cuda,cpu --threads N`` as ``edgecv.runtimes.load`` options (unset ones left out)."""
    options: dict = {}
    if providers:
        options["providers"] = [p.strip() for p in providers.split(",") if p.strip()]
    if threads:
        options["intra_op_threads"] = threads
    return options


from edgecv.stated import parse_kwargs  # noqa: E402,F401  (the parsing the API shares)
