"""``--help`` as plain text that reads at 80 columns: click's formatter (option names never cut, help
wrapped under them when the names are long, no type placeholders such as ``<bool>`` after plain
flags), with options grouped into the panels each option names (``rich_help_panel``).

Typer's rich help draws a six-column table that truncates long option names at 80 columns
(``--freeze-backb…``); click's definition lists wrap instead.
"""
from __future__ import annotations

import click
import typer
from typer.core import TyperCommand

BASIC = "Options"  # the panel of options that name none
ORDER = (BASIC, "Preprocessing", "Precision", "TensorRT engine", "Triton")  # others follow, as first used


_NAMES = {"int": "N", "float": "X", "str": "TEXT", "path": "PATH", "bool": "BOOL", "file": "FILE"}


def _metavar(param, ctx) -> str:
    """``N``, ``X``, ``TEXT``, ``PATH``, ``N N`` for a pair: what the value looks like (Typer's own
    display is ``<int range>``, ``<list[str]>``)."""
    shown = param.display_type(ctx).strip("<>")
    if shown.startswith("list[") and shown.endswith("]"):
        shown = shown[5:-1]
    if "," in shown:
        return " ".join(_NAMES.get(p.split()[0], p.upper()) for p in shown.split(","))
    if "|" in shown:
        return shown
    return _NAMES.get(shown.split()[0] if shown else "str", shown.upper())


def _argument(param) -> str:
    name = param.name.upper() + ("..." if param.nargs != 1 else "")
    return name if param.required else f"[{name}]"


class PanelCommand(TyperCommand):
    """A command whose help lists arguments, then options panel by panel in first-use order."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [self.options_metavar or ""] + [_argument(p) for p in self.get_params(ctx)
                                               if p.param_type_name == "argument"]

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        args, panels = [], {}
        for param in self.get_params(ctx):
            if param.metavar is None and param.param_type_name == "option" \
                    and not getattr(param, "is_flag", False) and hasattr(param, "display_type"):
                param.metavar = _metavar(param, ctx)
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                args.append((_argument(param), record[1]))
            else:
                panel = getattr(param, "rich_help_panel", None) or BASIC
                panels.setdefault(panel, []).append(record)
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        first_use = list(panels)
        for name in sorted(panels, key=lambda p: (ORDER.index(p) if p in ORDER else len(ORDER), first_use.index(p))):
            with formatter.section(name):
                formatter.write_dl(panels[name])


class App(typer.Typer):
    """``typer.Typer`` whose commands format their help with ``PanelCommand``."""

    def __init__(self, **kwargs):
        super().__init__(rich_markup_mode=None, **kwargs)

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or PanelCommand, **kwargs)
