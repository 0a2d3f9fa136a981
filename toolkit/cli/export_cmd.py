from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli.common import cli_errors, err, out


@app.command("export")
@cli_errors
def export_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="edgecv checkpoint, state_dict, TorchScript or .pt2")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="default: CHECKPOINT with .onnx")] = None,
    arch: Annotated[Optional[str], typer.Option(help="arch of a bare state_dict")] = None,
    num_classes: Annotated[Optional[int], typer.Option(help="classes of a bare state_dict")] = None,
    opset: Annotated[Optional[int], typer.Option(help="ONNX opset (default: the exporter's)")] = None,
    batch: Annotated[str, typer.Option(help="'dynamic' or a fixed batch size N")] = "dynamic",
    imgsz: Annotated[Optional[tuple[int, int]], typer.Option(help="input H W (default: the spec's)")] = None,
    odconv_mode: Annotated[str, typer.Option(help="auto | scan | unfold | static-mix")] = "auto",
    target: Annotated[str, typer.Option(help="onnxruntime | tensorrt (what --odconv-mode auto optimises for)")] = "onnxruntime",
    exporter: Annotated[str, typer.Option(help="auto | dynamo | torchscript")] = "auto",
    unsafe_load: Annotated[bool, typer.Option(help="allow a pickled nn.Module (runs code!)")] = False,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="skip the ONNX Runtime check")] = False,
    exif_transpose: Annotated[Optional[bool], typer.Option(
        "--exif-transpose/--no-exif-transpose",
        help="the training loader applied EXIF orientation (ImageOps.exif_transpose); default: as the "
             "checkpoint's spec says (torchvision's ImageFolder loader does not)")] = None,
    high_bit_depth: Annotated[Optional[str], typer.Option(
        help="16-bit images as the training loader saw them: pil (PIL's convert('RGB')) | scale (v / 257)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="onnx | engine (a TensorRT engine built from the "
                                     "ONNX on this machine's GPU; the .onnx is kept beside it)")] = "onnx",
    json_out: Annotated[bool, typer.Option("--json", help="summary as JSON on stdout")] = False,
):
    """Export a checkpoint to ONNX (dynamic batch, rewrites, embedded spec, validated)."""
    import json

    from edgecv.exporters.onnx_export import ExportOptions, export_onnx

    from edgecv.errors import EdgecvError

    if target not in ("onnxruntime", "tensorrt"):
        raise EdgecvError(f"--target {target!r} is not onnxruntime or tensorrt")
    if fmt not in ("onnx", "engine"):
        raise EdgecvError(f"--format {fmt!r} is not onnx or engine")
    engine = None
    if fmt == "engine":
        from edgecv.exporters.trt_build import require_tensorrt

        require_tensorrt()  # before minutes of export
        engine = output or checkpoint.with_suffix(".engine")
        output, target = engine.with_suffix(".onnx"), "tensorrt"
    opts = ExportOptions(output=output, arch=arch, num_classes=num_classes, opset=opset, batch=batch,
                         imgsz=imgsz, odconv_mode=odconv_mode, target=target, exporter=exporter,
                         unsafe_load=unsafe_load, validate=not no_validate, exif_transpose=exif_transpose,
                         high_bit_depth=high_bit_depth)

    def on_stage(name, seconds, detail):
        err.print(f"[green]✓[/] {name:<9} {seconds:6.2f}s  {detail}", highlight=False)

    res = export_onnx(checkpoint, opts, on_stage)
    summary = {
        "file": str(res.path), "size_bytes": res.size, "opset": res.opset, "exporter": res.exporter,
        "inputs": res.inputs, "outputs": res.outputs, "passes": res.passes,
        "validation": None if res.validation is None else res.validation.to_dict(),
    }
    if engine is not None:
        import time

        from edgecv.exporters.trt_build import build_engine

        t = time.perf_counter()
        summary["engine"] = str(build_engine(res.path, engine))
        on_stage("engine", time.perf_counter() - t, summary["engine"])
    if json_out:
        out.print_json(json.dumps(summary))
        return
    io = lambda xs: ", ".join(f"{x['name']} {x['shape']}" for x in xs)  # noqa: E731
    err.print(f"[bold]{res.path}[/]  {res.size / 1e6:.2f} MB  opset {res.opset}  ({res.exporter_note})", highlight=False)
    err.print(f"  inputs  {io(res.inputs)}\n  outputs {io(res.outputs)}", highlight=False)
    if res.validation is not None:
        for name, c in res.validation.rows:
            err.print(f"  validate {name:<14} max abs {c.max_abs:.2e}  max rel {c.max_rel:.2e}  "
                      f"top-1 {c.top1:.0%}", highlight=False)
