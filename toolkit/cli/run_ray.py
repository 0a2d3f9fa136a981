"""``edgecv run --ray``: the command-line side of ``edgecv.runtimes.distributed.ray_run``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from edgecv.cli.common import err, styled


def run_ray_cli(model_path, paths: list, *, output: Path | None, address: str | None, actors: int, batch_size: int,
                topk: int, backend: str, options: dict, json_out: bool, max_pixels: int | None) -> int:
    """Classify ``paths`` on Ray; write ``output`` and/or JSON lines; 1 when an image failed."""
    from edgecv.cli.run_cmd import _progress
    from edgecv.errors import EdgecvError
    from edgecv.runtimes.distributed.ray_run import run_on_ray, shutdown
    from edgecv.runtimes.pipeline.results_file import write_results

    if not output and not json_out:
        raise EdgecvError("--ray needs somewhere to put the rows", "add --output results.parquet (or .jsonl) or --json")
    progress, task = None, None

    def on_row(r):
        if json_out:
            sys.stdout.write(json.dumps(r) + "\n")
            sys.stdout.flush()
        if r.get("error"):
            err.print(styled(("skipped", "red"), f" {r['error']}"))
        if progress is not None:
            progress.update(task, advance=1)

    rows, stats = run_on_ray(model_path, paths, address=address, actors=actors, batch_size=batch_size, topk=topk,
                             backend=backend, options=options, max_pixels=max_pixels, on_row=on_row)
    try:
        with _progress(len(paths)) as progress:
            if progress is not None:
                task = progress.add_task("classifying on Ray", total=len(paths))
            if output:
                write_results(output, rows)
            else:
                for _ in rows:
                    pass
    finally:
        shutdown()
    where = f" -> {output}" if output else ""
    err.print(f"{stats.images - stats.failed} classified, {stats.failed} failed on Ray ({actors} actor"
              f"{'s' if actors > 1 else ''}): {stats.images_per_s:.1f} img/s overall, "
              f"{stats.steady_images_per_s:.1f} img/s after the first row; Ray start-up {stats.startup_s:.1f} s, "
              f"first row after {stats.first_row_s:.1f} s (workers start, the model loads){where}")
    return 1 if stats.failed else 0

