"""``edgecv run --ray``: the command-line side of ``edgecv.runtimes.distributed.ray_run``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from edgecv.cli.common import err


def run_ray_cli(model_path, paths: list, *, output: Path | None, address: str | None, actors: int, batch_size: int,
                topk: int, backend: str, providers: str | None, threads: int | None, json_out: bool,
                max_pixels: int | None) -> int:
    """Classify ``paths`` on Ray; write ``output`` and/or JSON lines; 1 when an image failed."""
    from edgecv.errors import EdgecvError
    from edgecv.runtimes.distributed.ray_run import run_on_ray, shutdown
    from edgecv.runtimes.pipeline.results_file import write_results

    if not output and not json_out:
        raise EdgecvError("--ray needs somewhere to put the rows", "add --output results.parquet (or .jsonl) or --json")
    options = {}
    if providers:
        options["providers"] = [p.strip() for p in providers.split(",") if p.strip()]
    if threads:
        options["intra_op_threads"] = threads
    progress = _progress(len(paths))
    task = None

    def on_row(r):
        if json_out:
            sys.stdout.write(json.dumps(r) + "\n")
            sys.stdout.flush()
        if r.get("error"):
            err.print(f"[red]skipped[/] {r['error']}", highlight=False)
        if progress is not None:
            progress.update(task, advance=1)

    rows, stats = run_on_ray(model_path, paths, address=address, actors=actors, batch_size=batch_size, topk=topk,
                             backend=backend, options=options, max_pixels=max_pixels, on_row=on_row)
    try:
        if progress is not None:
            progress.start()
            task = progress.add_task("classifying on Ray", total=len(paths))
        if output:
            write_results(output, rows)
        else:
            for _ in rows:
                pass
    finally:
        if progress is not None:
            progress.stop()
        shutdown()
    where = f" -> {output}" if output else ""
    err.print(f"{stats.images - stats.failed} classified, {stats.failed} failed on Ray ({actors} actor"
              f"{'s' if actors > 1 else ''}): {stats.images_per_s:.1f} img/s overall, "
              f"{stats.steady_images_per_s:.1f} img/s after the first row; Ray start-up {stats.startup_s:.1f} s, "
              f"first row after {stats.first_row_s:.1f} s (workers start, the model loads){where}", highlight=False)
    return 1 if stats.failed else 0


def _progress(total: int):
    if total < 2 or not err.is_terminal:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)
