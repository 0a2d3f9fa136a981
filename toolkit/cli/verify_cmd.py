from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli import model_options as mo
from edgecv.cli.common import cli_errors, err, out, parse_kwargs, styled


@app.command("verify")
@cli_errors
def verify_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="the reference: checkpoint the models came from")],
    model_files: Annotated[Optional[list[Path]], typer.Argument(help="candidates (default: export here)")] = None,
    images: Annotated[Optional[Path], typer.Option(help="folder of real images (default: samples)")] = None,
    batch_sizes: Annotated[str, typer.Option(help="comma-separated batch sizes")] = "1,2,7",
    seeds: Annotated[str, typer.Option(help="comma-separated random-input seeds")] = "0,1",
    backends: Annotated[Optional[str], typer.Option(help="only these backends, comma-separated")] = None,
    arch: mo.Arch = None,
    num_classes: mo.NumClasses = None,
    model_file: mo.ModelFile = None,
    model_arg: mo.ModelArg = None,
    class_output: mo.Output = None,
    imgsz: mo.Imgsz = None,
    resize: mo.Resize = None,
    mean: mo.Mean = None,
    std: mo.Std = None,
    interpolation: mo.Interpolation = None,
    channel_order: mo.ChannelOrder = None,
    labels: mo.Labels = None,
    transforms: mo.Transforms = None,
    unsafe_load: mo.UnsafeLoad = False,
    atol: Annotated[Optional[float], typer.Option(help="absolute tolerance (default by precision)")] = None,
    rtol: Annotated[Optional[float], typer.Option(help="relative tolerance (default by precision)")] = None,
    reference: Annotated[str, typer.Option(help="fp32 | fp64 (upcast the torch reference)")] = "fp32",
    per_layer: Annotated[bool, typer.Option(help="always locate the first diverging module")] = False,
    report: Annotated[Optional[Path], typer.Option(help="write a report (.md or .json)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="result as JSON on stdout")] = False,
):
    """Check every exported model against its checkpoint on every backend; exit 1 on any failure."""
    import json

    from edgecv.errors import EdgecvError
    from edgecv.formats import backend_of, is_image

    for f in (checkpoint, *(model_files or ())):
        if not f.exists():  # before seconds of importing torch
            raise EdgecvError(f"{f} does not exist")
    from edgecv.verification import verify

    if reference not in ("fp32", "fp64"):
        raise EdgecvError(f"--reference {reference!r} is not fp32 or fp64")
    if backend_of(checkpoint) in ("onnxruntime", "tensorrt"):
        raise EdgecvError(f"{checkpoint} is an exported model, and verify's reference is the checkpoint it came "
                          "from", "pass the checkpoint first and the exported files after it; `edgecv eval A B DATA` "
                          "compares exported files on labelled images")
    try:
        bs = [int(b) for b in batch_sizes.split(",")]
        sd = [int(s) for s in seeds.split(",")]
    except ValueError:
        raise EdgecvError("--batch-sizes and --seeds take comma-separated integers") from None
    imgs = None
    if images is not None:
        if not images.is_dir():
            raise EdgecvError(f"--images {images} is not a folder")
        imgs = sorted(p for p in images.rglob("*") if is_image(p))
    res = verify(checkpoint, model_files or [], images=imgs, batch_sizes=bs, seeds=sd, arch=arch,
                 num_classes=num_classes, unsafe_load=unsafe_load, atol=atol, rtol=rtol, reference=reference,
                 per_layer=per_layer, backends=backends.split(",") if backends else None,
                 model_file=model_file, model_kwargs=parse_kwargs(model_arg), output=class_output,
                 stated=mo.stated_spec(imgsz, resize, mean, std, interpolation, channel_order, labels),
                 transforms=transforms,
                 progress=lambda s: err.print(f"verifying {s}"))
    if report:
        from edgecv.fileio import atomic_write_text
        from edgecv.verification.report import to_markdown

        text = json.dumps(res.to_dict(), indent=1) if report.suffix == ".json" else to_markdown(res)
        atomic_write_text(report, lambda f: f.write(text), what="--report", suffixes=(".md", ".json"))
    if json_out:
        out.print_json(json.dumps(res.to_dict()))
    else:
        from edgecv.verification.report import to_table

        out.print(to_table(res))
        from edgecv.verification.api import NO_DIVERGENCE

        for candidate, text in sorted({(r.candidate, r.preprocess) for r in res.rows if r.preprocess}):
            out.print(f"{candidate}: preprocessing {text}")
        for r in res.rows:
            if r.first_divergence == NO_DIVERGENCE:
                out.print(f"{r.candidate} on {r.runtime}: per layer, no module diverges beyond the tolerance")
            elif r.first_divergence:
                out.print(f"{r.candidate} on {r.runtime}: first divergence at {r.first_divergence}")
    n = res.counts()
    err.print(styled(("PASS", "green") if res else ("FAIL", "red"))
              + f" {n['pass']} passed, {n['fail']} failed, {n['skipped']} skipped")
    if not res:
        raise typer.Exit(1)
