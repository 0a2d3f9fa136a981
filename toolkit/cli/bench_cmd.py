from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli.common import cli_errors, out


@app.command("bench")
@cli_errors
def bench_cmd(
    model: Annotated[Path, typer.Argument(help="model file (.onnx, .engine, .pt)")],
    backend: Annotated[str, typer.Option(help="auto | onnxruntime | torch | tensorrt")] = "auto",
    batch_sizes: Annotated[str, typer.Option(help="comma-separated batch sizes")] = "1,8",
    seconds: Annotated[float, typer.Option(min=0.1, help="time per batch size")] = 3.0,
    threads: Annotated[Optional[int], typer.Option(help="intra-op threads (ONNX Runtime)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
):
    """Model-only latency (p50/p95) and throughput per batch size."""
    import json

    from edgecv.runtimes.bench import bench_model

    rows = bench_model(model, backend, [int(b) for b in batch_sizes.split(",")], seconds, threads)
    if json_out:
        out.print_json(json.dumps(rows))
        return
    from rich.table import Table

    t = Table(title=f"{model.name} on {rows[0]['runtime']}")
    for c in ("batch", "p50 ms", "p95 ms", "images/s"):
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(str(r["batch"]), f"{r['p50_ms']:.2f}", f"{r['p95_ms']:.2f}", f"{r['images_per_s']:.1f}")
    out.print(t)
