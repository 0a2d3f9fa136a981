"""Why a model does not export with a dynamic batch: the line of its source that fixed the batch.

Tutorial and paper code often turns the batch size into a Python value while it runs
(``B = int(windows.shape[0] / ...)``, ``.item()``, ``if x.shape[0] > 1:``, ``view(B, ..., -1)``).
An exporter records such a value as a constant: the graph is right at the batch it was traced with
and wrong (or refused) at any other.  Two probes name the line:

* ``guard_sites``: ``torch.export.draft_export`` with a dynamic batch reports every guard that tied
  the batch to a number, with the user frame that added it (``int()`` of a shape, a ``view`` whose
  sizes were computed from one);
* ``branch_sites``: the model's own forward at batch 1 and at batch 2 (the same image twice), traced
  line by line (``sys.settrace``) in the model's source files: the first line after which the two
  runs take different paths is a Python ``if`` on the batch size, which no exporter records as such.

Both run only after an export has failed that way, on the model in eager mode; nothing here runs
on a good export.
"""
from __future__ import annotations

import inspect
import linecache
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch

_LIBRARY_ROOTS = tuple(str(Path(p)) for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                                             sysconfig.get_paths()["stdlib"]})


@dataclass(frozen=True)
class Site:
    """One line of the model's source that fixed the batch, and how."""

    file: str
    line: int
    code: str
    how: str  # "guard" (the exporter specialised on it) | "branch" (a Python if on the batch)

    def where(self) -> str:
        return f"{Path(self.file).name}:{self.line}"

    def __str__(self) -> str:
        return f"{self.where()} `{self.code}`"


def source_files(model: torch.nn.Module) -> list[str]:
    """The files that define the model's modules, the user's own first (library files after)."""
    files: list[str] = []
    for m in model.modules():
        try:
            f = inspect.getsourcefile(type(m))
        except (TypeError, OSError):
            continue
        if f and f not in files and "/torch/" not in f.replace("\\", "/"):
            files.append(f)
    return sorted(files, key=lambda f: f.startswith(_LIBRARY_ROOTS))


def _resolve(files: list[str], line: int, code: str) -> str | None:
    """The file among ``files`` whose line ``line`` is ``code`` (draft_export keeps only the line)."""
    for f in files:
        if linecache.getline(f, line).strip() == code.strip():
            return f
    return None


def guard_sites(model: torch.nn.Module, example: torch.Tensor) -> list[Site]:
    """Lines where torch.export tied the batch to the traced size (a guard on the batch symbol)."""
    import warnings

    files = source_files(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = torch.export.draft_export(model, (example,),
                                           dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
    except Exception:  # noqa: BLE001 - the diagnosis is best effort; the export error stands anyway
        return []
    sites: list[Site] = []
    for failure in getattr(ep, "_report", None).failures if getattr(ep, "_report", None) else []:
        data = failure.data if isinstance(failure.data, dict) else {}
        for frame in reversed(data.get("user_stack") or []):  # innermost user frame first
            code, line = frame.get("loc") or "", frame.get("line")
            f = _resolve(files, line, code) if isinstance(line, int) else None
            if f:
                site = Site(f, line, code.strip(), "guard")
                if site not in sites:
                    sites.append(site)
                break
    return sites


def branch_sites(model: torch.nn.Module, example: torch.Tensor) -> list[Site]:
    """The line after which forward at batch 1 and at batch 2 (the same sample twice) go different
    ways in the model's source files: a Python branch on the batch size."""
    files = set(source_files(model))

    def lines(x) -> list[tuple[str, int]]:
        seen: list[tuple[str, int]] = []

        def tracer(frame, event, arg):
            if frame.f_code.co_filename not in files:
                return None
            if event == "line":
                seen.append((frame.f_code.co_filename, frame.f_lineno))
            return tracer

        old = sys.gettrace()
        sys.settrace(tracer)
        try:
            with torch.inference_mode():
                model(x)
        except Exception:  # noqa: BLE001 - a model that fails at one batch: its lines so far
            pass
        finally:
            sys.settrace(old)
        return seen

    one = example[:1]
    a, b = lines(one), lines(torch.cat([one, one]))
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            if i == 0:
                return []
            f, n = a[i - 1]
            return [Site(f, n, linecache.getline(f, n).strip(), "branch")]
    return []


def batch_sites(model: torch.nn.Module, example: torch.Tensor) -> list[Site]:
    """Every line found by either probe, guards first."""
    sites = guard_sites(model, example)
    return sites + [s for s in branch_sites(model, example) if s not in sites]


def explain(sites: list[Site], traced: int) -> str:
    """One or two lines: which source line fixed the batch, and what that means."""
    if not sites:
        return (f"the exported graph is right at the batch it was traced with ({traced}) and wrong at others: "
                "forward() turns the batch size into a Python number somewhere (no single line was found)")
    first = sites[0]
    what = ("is a Python `if` on the batch size, so the graph keeps one branch" if first.how == "branch" else
            "turns the batch size into a Python number, so the graph keeps the traced one")
    more = f" (and {', '.join(s.where() for s in sites[1:3])})" if len(sites) > 1 else ""
    return f"{first} {what}{more}"


FIX_HINT = ("keep sizes as tensors' own (x.shape[0], x.size(0), -1 in view/reshape) instead of int()/.item()/math "
            "on them, and branch on them only outside forward()")
