"""Render a VerifyResult as a rich table or Markdown."""
from __future__ import annotations

COLUMNS = ("candidate", "runtime", "status", "max abs", "max rel", "cosine", "top-1", "top-5", "e2e rel", "acc")


def _cells(r) -> list[str]:
    if r.status == "skipped":
        return [r.candidate, r.runtime, f"skipped: {r.reason}"] + [""] * 7
    acc = "" if r.accuracy is None else f"{r.accuracy:.1%} (ref {r.reference_accuracy:.1%})"
    e2e = "" if r.e2e_max_rel is None else f"{r.e2e_max_rel:.2e}"
    status = r.status if r.status == "pass" else f"FAIL: {r.reason}"
    return [r.candidate, r.runtime, status, f"{r.max_abs:.2e}", f"{r.max_rel:.2e}", f"{r.cosine:.6f}",
            f"{r.top1:.0%}", f"{r.top5:.0%}", e2e, acc]


def to_table(res):
    from rich.table import Table

    t = Table(title=f"verify {res.reference} ({res.inputs.get('reference')} reference)")
    for c in COLUMNS:
        t.add_column(c, overflow="fold")
    for r in res.rows:
        cells = _cells(r)
        style = {"pass": "green", "fail": "red"}.get(r.status, "dim")
        t.add_row(*cells, style=style)
    return t


def to_markdown(res) -> str:
    lines = [f"# edgecv verify: {'PASS' if res else 'FAIL'}", "", f"Reference: `{res.reference}`", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in _cells(r)) + " |" for r in res.rows]
    pre = {(r.candidate, r.preprocess) for r in res.rows if r.preprocess}
    if pre:
        lines += ["", "## Preprocessing against the source's own pipeline", ""]
        lines += [f"- `{c}`: {p}" for c, p in sorted(pre)]
    divs = [r for r in res.rows if r.first_divergence]
    if divs:
        lines += ["", "## First divergence", ""]
        lines += [f"- `{r.candidate}` on {r.runtime}: {r.first_divergence}" for r in divs]
    return "\n".join(lines) + "\n"
