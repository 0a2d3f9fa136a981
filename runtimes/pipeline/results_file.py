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


# A stream's rows (run on a video / camera) carry these as well.
FRAME_COLUMNS = ("frame", "pts_s", "elapsed_s", "latency_ms")


def _parquet_schema(frames: bool = False):
    import pyarrow as pa

    entry = pa.struct([("index", pa.int64()), ("label", pa.string()), ("prob", pa.float64())])
    cols = [("source", pa.string()), ("topk", pa.list_(entry)), ("error", pa.string())]
    if frames:
        cols += [("frame", pa.int64()), ("pts_s", pa.float64()), ("elapsed_s", pa.float64()),
                 ("latency_ms", pa.float64())]
    return pa.schema(cols)


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
        schema = None
        writer = None
        try:
            rows: list[dict] = []
            for r in records:
                if writer is None:
                    schema = _parquet_schema(frames="frame" in r)
                    writer = pq.ParquetWriter(tmp, schema)
                rows.append({"source": r["source"], "topk": r.get("topk") or [], "error": r.get("error"),
                             **{k: r.get(k) for k in FRAME_COLUMNS if k in schema.names}})
                if len(rows) >= rows_per_group:
                    writer.write_table(pa.Table.from_pylist(rows, schema))
                    count += len(rows)
                    rows = []
            if writer is None:  # no rows: an empty table of the image schema
                schema = _parquet_schema()
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(pa.Table.from_pylist(rows, schema))
            count += len(rows)
        finally:
            if writer is not None:
                writer.close()

    atomic_write(path, parquet if path.suffix.lower() == ".parquet" else jsonl, what="-o/--output",
                 suffixes=RESULT_SUFFIXES)
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
        d.update({k: r[k] for k in FRAME_COLUMNS if k in r})
        if r.get("error"):
            d["error"] = r["error"]
        out.append(d)
    return out
