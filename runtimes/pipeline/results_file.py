"""One row per image, as ``edgecv run --json`` prints it, into ``.jsonl`` or ``.parquet``.

Rows are streamed into a temporary file beside the target and renamed at the end: a run that
stops half way never leaves a half-written results file.  Parquet (pyarrow, extra ``ray``) has
the columns ``source`` (string), ``topk`` (list of {index, label, prob}) and ``error`` (string or
null), so ``pandas.read_parquet`` / Ray Data / DuckDB read it as they read any table.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from edgecv.errors import EdgecvError

RESULT_SUFFIXES = (".jsonl", ".parquet")


def check_results_path(path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in RESULT_SUFFIXES:
        raise EdgecvError(f"cannot tell the results format of {path.name}", "name it .jsonl or .parquet")
    return path


def _parquet_schema():
    import pyarrow as pa

    entry = pa.struct([("index", pa.int64()), ("label", pa.string()), ("prob", pa.float64())])
    return pa.schema([("source", pa.string()), ("topk", pa.list_(entry)), ("error", pa.string())])


def write_results(path, records: Iterable[dict], rows_per_group: int = 4096) -> int:
    """Write ``records`` (dicts of source / topk / error) to ``path``; the number written."""
    from edgecv.fileio import atomic_write

    path = check_results_path(path)
    count = 0

    def jsonl(tmp):
        nonlocal count
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
                count += 1

    def parquet(tmp):
        nonlocal count
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise EdgecvError("writing .parquet needs pyarrow", "pip install 'edgecv[ray]' or write .jsonl") from None
        schema = _parquet_schema()
        with pq.ParquetWriter(tmp, schema) as writer:
            rows: list[dict] = []
            for r in records:
                rows.append({"source": r["source"], "topk": r.get("topk") or [], "error": r.get("error")})
                if len(rows) >= rows_per_group:
                    writer.write_table(pa.Table.from_pylist(rows, schema))
                    count += len(rows)
                    rows = []
            writer.write_table(pa.Table.from_pylist(rows, schema))
            count += len(rows)

    atomic_write(path, parquet if path.suffix.lower() == ".parquet" else jsonl)
    return count


def read_results(path) -> list[dict]:
    """The records of a results file, as ``run --json`` prints them (no ``error`` key when none)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for r in rows:
        d = {"source": r["source"], "topk": r.get("topk") or []}
        if r.get("error"):
            d["error"] = r["error"]
        out.append(d)
    return out
