from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli.common import cli_errors, out


@app.command("bench")
@cli_errors
def bench_cmd(
    models: Annotated[list[Path], typer.Argument(help="model files (.onnx, .engine, .pt), timed side by side; "
                                                 "speed-ups are against the first")],
    backend: Annotated[str, typer.Option(help="auto | onnxruntime | torch | tensorrt")] = "auto",
    batch_sizes: Annotated[str, typer.Option(help="comma-separated batch sizes")] = "1,8",
    seconds: Annotated[float, typer.Option(min=0.1, help="time per batch size")] = 3.0,
    threads: Annotated[Optional[int], typer.Option(help="intra-op threads (ONNX Runtime)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
):
    """Model-only latency (p50/p95), throughput and speed-up per batch size, several models interleaved."""
    import json

    from edgecv.errors import EdgecvError
    from edgecv.runtimes.bench import bench_models

    for m in models:
        if not m.exists():
            raise EdgecvError(f"{m} does not exist")
    try:
        batches = [int(b) for b in batch_sizes.split(",")]
    except ValueError:
        raise EdgecvError(f"--batch-sizes {batch_sizes!r} is not comma-separated integers") from None
    rows = bench_models(models, backend, batches, seconds, threads)
    if json_out:
        out.print_json(json.dumps(rows))
        return
    from rich.table import Table

    from edgecv.cpuinfo import cpu_features

    t = Table(title=f"model-only latency, CPU {cpu_features()['isa']}")
    for c in ("model", "runtime", "precision", "MB", "batch", "p50 ms", "p95 ms", "images/s", "speed-up"):
        t.add_column(c, justify="left" if c in ("model", "runtime", "precision") else "right")
    for r in rows:
        t.add_row(r["model"], r["runtime"], r["precision"], f"{r['size_mb']:.1f}", str(r["batch"]), f"{r['p50_ms']:.2f}",
                  f"{r['p95_ms']:.2f}", f"{r['images_per_s']:.1f}", f"{r['speedup']:.2f}x")
    out.print(t)
