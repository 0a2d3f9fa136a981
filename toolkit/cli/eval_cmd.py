from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.runtimes import backend_choices
from edgecv.cli.common import cli_errors, err, out


@app.command("eval")
@cli_errors
def eval_cmd(
    args: Annotated[list[str], typer.Argument(help="MODEL [MODEL ...] DATA: model files or checkpoints, then an "
                                              "ImageFolder root or a built-in set (digits, mnist5k)")],
    backend: Annotated[str, typer.Option(help=backend_choices())] = "auto",
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    plot: Annotated[Optional[Path], typer.Option(help="confusion matrix PNG (one per model: NAME-MODEL.png "
                                                 "when several)")] = None,
    per_class: Annotated[bool, typer.Option(help="print the per-class table")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="results as JSON on stdout")] = False,
):
    """Accuracy, per-class precision / recall / F1 / specificity and the confusion matrix; several
    models give one comparison table (same preprocessing as `edgecv run`)."""
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from edgecv.api import evaluate, labelled_data
    from edgecv.errors import EdgecvError
    from edgecv.runtimes.evaluate import iter_models

    if len(args) < 2:
        raise EdgecvError("eval takes MODEL [MODEL ...] DATA", "e.g. edgecv eval model.onnx model.int8.onnx data/val")
    models, data = iter_models([Path(a) for a in args[:-1]]), labelled_data(args[-1])
    if plot:
        from edgecv.fileio import check_output

        for p in plot_paths(plot, [str(m) for m in models]):
            check_output(p, "--plot", (".png",), inputs=models)
    results = []
    for m in models:
        with Progress(TextColumn(m.name), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                      transient=True) as bar:
            task = bar.add_task("eval", total=len(data))
            results.append(evaluate(m, data, backend=backend, batch_size=batch_size,
                                    progress=lambda n: bar.update(task, advance=n)))
    if plot:
        from edgecv.plots import confusion_png

        for r, p in zip(results, plot_paths(plot, [r.model for r in results])):
            confusion_png(r.confusion, r.labels, p, f"{r.model} on {data.source}: accuracy {r.accuracy:.2%}")
            err.print(f"confusion matrix -> {p}")
    if json_out:
        out.print_json(json.dumps([r.to_dict() for r in results]))
        return
    t = Table(title=f"{data.source}: {len(data)} images, {len(data.names)} classes")
    for c in ("model", "runtime", "accuracy", "macro F1", "images/s", "unreadable"):
        t.add_column(c, justify="left" if c in ("model", "runtime") else "right", overflow="fold")
    for r in results:
        t.add_row(r.model, r.runtime, f"{r.accuracy:.2%}", f"{r.macro_f1():.4f}", f"{r.n / max(r.seconds, 1e-9):.1f}",
                  str(len(r.unreadable)))
    out.print(t)
    for r in results if per_class else ():
        pc = Table(title=f"per class: {r.model} on {r.runtime}")
        for c in ("class", "precision", "recall", "F1", "specificity", "support"):
            pc.add_column(c, justify="left" if c == "class" else "right", overflow="fold")
        for row in r.per_class():
            pc.add_row(row["label"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                       f"{row['specificity']:.3f}", str(row["support"]))
        out.print(pc)


def plot_paths(plot: Path, models: list[str]) -> list[Path]:
    """One confusion-matrix file per model: ``plot`` itself for one model, else ``STEM-MODELFILE.png``
    (the model's whole file name, so a.pt and a.onnx do not collide), numbered if names still clash."""
    if len(models) == 1:
        return [plot]
    paths: list[Path] = []
    for m in models:
        p = plot.with_name(f"{plot.stem}-{Path(m).name}{plot.suffix}")
        i = 2
        while p in paths:
            p = plot.with_name(f"{plot.stem}-{Path(m).name}-{i}{plot.suffix}")
            i += 1
        paths.append(p)
    return paths
