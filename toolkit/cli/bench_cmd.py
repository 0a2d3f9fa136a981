from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli.common import cli_errors, err, out, styled


@app.command("bench")
@cli_errors
def bench_cmd(
    models: Annotated[list[Path], typer.Argument(help="model files (.onnx, .engine) and/or checkpoints; a checkpoint "
                                                 "is timed as torch eager and as its ONNX forms")],
    backends: Annotated[str, typer.Option(help="checkpoints: which of torch,onnxruntime,tensorrt to time")] = "torch,onnxruntime,tensorrt",
    batch_sizes: Annotated[str, typer.Option(help="comma-separated batch sizes")] = "1,8",
    seconds: Annotated[float, typer.Option(min=0.1, help="time per batch size and candidate")] = 3.0,
    threads: Annotated[Optional[int], typer.Option(help="intra-op threads (ONNX Runtime)")] = None,
    data: Annotated[Optional[str], typer.Option(help="labelled images (ImageFolder root, digits, mnist5k): "
                                                "accuracy per candidate")] = None,
    calib: Annotated[Optional[Path], typer.Option(help="checkpoints: quantize an int8 candidate with these images")] = None,
    floor: Annotated[bool, typer.Option(help="FLOPs, this machine's MatMul peak, latency as a multiple of its floor")] = True,
    plot: Annotated[Optional[Path], typer.Option(help="bar chart PNG of p50 latency against the floor")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
):
    """Latency p50/p95, throughput, speed-up over torch eager, size, memory and accuracy of every form of
    each model that runs here, timed side by side, each against the hardware's floor."""
    import json

    from edgecv.api import bench
    from edgecv.errors import EdgecvError

    try:
        batches = [int(b) for b in batch_sizes.split(",")]
    except ValueError:
        raise EdgecvError(f"--batch-sizes {batch_sizes!r} is not comma-separated integers") from None
    if plot is not None and plot.suffix.lower() != ".png":
        raise EdgecvError(f"--plot {plot} is not a .png path")
    report = bench(models, batch_sizes=batches, seconds=seconds, backends=[b.strip() for b in backends.split(",")
                                                                            if b.strip()],
                   threads=threads, data=data, calib=calib, floor=floor,
                   progress=lambda text: err.print(styled((text, "dim"))))
    rows, skips, cpu = report.rows, report.skipped, report.cpu
    if plot:
        from edgecv.plots import bench_png

        bench_png(rows, plot, f"p50 latency, {cpu['model']} ({cpu['isa']})")
        err.print(f"chart -> {plot}")
    if json_out:
        out.print_json(json.dumps(report.to_dict()))
        return
    out.print(bench_table(rows, cpu))
    for r in report.busy_rows():
        err.print(f"warning: {r['model']} {r['candidate']} batch {r['batch']}: p95 is {r['spread']:.1f}x p50, so the "
                  "machine was busy while it was timed; its speed-ups are not reliable (rerun on a quiet machine, or "
                  "with more --seconds)")
    for note in sorted({f"{r['model']}: {n}" for r in rows for n in r.get("floor_notes") or ()}):
        err.print(styled(("floor", "yellow"), f" {note} (FLOPs are a lower bound: ≥)"))
    for s in skips:
        err.print(styled(("skipped", "yellow"), f" {s}"))


def bench_table(rows: list[dict], cpu: dict):
    from rich.table import Table

    floor = any("floor_ms" in r for r in rows)
    peak = next((r for r in rows if r.get("peak_gflops")), None)
    title = f"edgecv bench: CPU {cpu['model']} ({cpu['isa']})"
    if peak:
        title += f", MatMul peak fp32 {rows[0]['peak_gflops']:.0f} GFLOP/s"
    from rich import box

    t = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False)  # one space between columns
    cols = ["model", "candidate", "threads", "MB", "batch", "p50 ms", "p95 ms", "images/s", "speed-up", "mem MB"]
    cols += ["GFLOPs/img", "floor ms", "x floor"] if floor else []
    cols += ["accuracy"] if any(r.get("accuracy") is not None for r in rows) else []
    body = []
    for r in rows:
        cells = [r["model"], r["candidate"], "-" if r["threads"] is None else str(r["threads"]), f"{r['size_mb']:.1f}", str(r["batch"]), f"{r['p50_ms']:.2f}",
                 f"{r['p95_ms']:.2f}", f"{r['images_per_s']:.1f}", f"{r['speedup']:.2f}x", f"{r['memory_mb']:.0f}"]
        if floor:
            low = "≥" if r.get("floor_notes") else ""  # FLOPs in Scan / Loop bodies are not counted
            cells += [f"{low}{r['gflops']:.2f}" if r.get("gflops") else "-",
                      f"{low}{r['floor_ms']:.2f}" if r.get("floor_ms") else "-",
                      f"{'≤' if low else ''}{r['x_floor']:.2f}" if r.get("x_floor") else "-"]
        if "accuracy" in cols:
            cells.append(f"{r['accuracy']:.2%}" if r.get("accuracy") is not None else "-")
        body.append(cells)
    for i, c in enumerate(cols):  # on a narrow terminal headers and names fold; numbers are never cut
        text = c in ("model", "candidate")
        t.add_column(c, justify="left" if text else "right", overflow="fold",
                     min_width=None if text else max((len(cells[i]) for cells in body), default=None))
    for cells in body:
        t.add_row(*cells)
    return t
