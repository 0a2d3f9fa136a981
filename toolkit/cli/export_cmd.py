from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli import model_options as mo
from edgecv.cli.common import cli_errors, err, out, parse_kwargs, styled

PRECISION, ENGINE, TRITON = "Precision", "TensorRT engine", "Triton"


@app.command("export")
@cli_errors
def export_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="edgecv checkpoint, weights (state_dict / .safetensors) with "
                                               "--arch or --model-file, TorchScript, .pt2, or a Hugging Face directory")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="default: CHECKPOINT with .onnx")] = None,
    arch: mo.Arch = None,
    num_classes: mo.NumClasses = None,
    model_file: mo.ModelFile = None,
    model_arg: mo.ModelArg = None,
    scores_output: mo.Output = None,
    opset: Annotated[Optional[int], typer.Option(help="ONNX opset (default: the exporter's)")] = None,
    batch: Annotated[str, typer.Option(help="'dynamic' or a fixed batch size N")] = "dynamic",
    imgsz: mo.Imgsz = None,
    resize: mo.Resize = None,
    mean: mo.Mean = None,
    std: mo.Std = None,
    interpolation: mo.Interpolation = None,
    channel_order: mo.ChannelOrder = None,
    labels: mo.Labels = None,
    scores: mo.Scores = None,
    odconv_mode: Annotated[str, typer.Option(help="auto | scan | unfold | static-mix")] = "auto",
    target: Annotated[str, typer.Option(help="onnxruntime | tensorrt (what --odconv-mode auto optimises for)")] = "onnxruntime",
    exporter: Annotated[str, typer.Option(help="auto | dynamo | torchscript")] = "auto",
    unsafe_load: mo.UnsafeLoad = False,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="skip the ONNX Runtime check")] = False,
    exif_transpose: Annotated[Optional[bool], typer.Option(
        "--exif-transpose/--no-exif-transpose",
        help="the training loader applied EXIF orientation (ImageOps.exif_transpose); default: as the "
             "checkpoint's spec says (torchvision's ImageFolder loader does not)", rich_help_panel=mo.PRE)] = None,
    high_bit_depth: Annotated[Optional[str], typer.Option(
        help="16-bit images as the training loader saw them: pil (PIL's convert('RGB')) | scale (v / 257)", rich_help_panel=mo.PRE)] = None,
    fmt: Annotated[str, typer.Option("--format", help="onnx | engine (a TensorRT engine built from the "
                                     "ONNX on this machine's GPU; the .onnx is kept beside it) | triton (a "
                                     "Triton model repository in -o FOLDER)")] = "onnx",
    repo_name: Annotated[Optional[str], typer.Option("--name", help="triton: the model's name in the repository "
                                                "(default: the file's stem)", rich_help_panel=TRITON)] = None,
    precision: Annotated[str, typer.Option(help="fp32 | fp16 (GPUs; fp32 I/O) | int8 (static QDQ, or "
                                           "dynamic for transformers; needs --calib; accuracy held automatically)", rich_help_panel=PRECISION)] = "fp32",
    calib: Annotated[Optional[Path], typer.Option(help="int8: folder of real images (ImageFolder "
                                                  "sub-folders named as the labels make it a labelled check)", rich_help_panel=PRECISION)] = None,
    calib_method: Annotated[str, typer.Option(help="int8 calibration: minmax | entropy | percentile", rich_help_panel=PRECISION)] = "minmax",
    int8_activations: Annotated[str, typer.Option(help="auto (measure u8, u8-reduced, s8, and "
                                                  "dynamic where MatMuls hold most weights; fastest within budget) | u8 "
                                                  "| u8-reduced | s8 | dynamic (ONNX Runtime only)", rich_help_panel=PRECISION)] = "auto",
    keep_fp32: Annotated[Optional[list[str]], typer.Option(help="int8: ONNX node name kept in fp32, repeatable", rich_help_panel=PRECISION)] = None,
    min_batch: Annotated[int, typer.Option(help="engine: optimisation profile min batch", rich_help_panel=ENGINE)] = 1,
    opt_batch: Annotated[int, typer.Option(help="engine: profile batch TensorRT tunes for", rich_help_panel=ENGINE)] = 8,
    max_batch: Annotated[int, typer.Option(help="engine: profile max batch; triton: max_batch_size", rich_help_panel=ENGINE)] = 32,
    workspace_gib: Annotated[float, typer.Option(help="engine: TensorRT workspace limit (GiB)", rich_help_panel=ENGINE)] = 2.0,
    rebuild: Annotated[bool, typer.Option(help="engine: rebuild even when the cached engine matches", rich_help_panel=ENGINE)] = False,
    max_accuracy_drop: Annotated[float, typer.Option(help="int8 budget on labelled images, top-1 points", rich_help_panel=PRECISION)] = 0.5,
    min_agreement: Annotated[float, typer.Option(help="int8 budget: top-1 agreement with fp32 on "
                                                 "held-out images", rich_help_panel=PRECISION)] = 0.99,
    json_out: Annotated[bool, typer.Option("--json", help="summary as JSON on stdout")] = False,
):
    """Export a checkpoint to ONNX (dynamic batch, rewrites, embedded spec, validated)."""
    import json

    from edgecv.errors import EdgecvError

    if not checkpoint.exists():  # before seconds of importing torch
        raise EdgecvError(f"{checkpoint} does not exist")
    if target not in ("onnxruntime", "tensorrt"):
        raise EdgecvError(f"--target {target!r} is not onnxruntime or tensorrt")
    if fmt not in ("onnx", "engine", "triton"):
        raise EdgecvError(f"--format {fmt!r} is not onnx, engine or triton")
    repo = None
    if fmt == "triton":
        from edgecv.exporters.triton_repo import model_config_pb2

        model_config_pb2()  # before minutes of export
        repo = output or checkpoint.parent / "triton_models"
        if repo.suffix.lower() in (".onnx", ".engine", ".plan", ".pbtxt"):
            raise EdgecvError(f"--format triton writes a model repository folder, not {repo.name}",
                              "give -o a folder, e.g. -o models/")
        output = None
    if output is not None and output.suffix.lower() not in (".onnx", ".engine", ".plan"):
        raise EdgecvError(f"-o/--output {output} is not a .onnx (or .engine) path",
                          f"to choose the class-score output among several, use --class-output {output}")
    from edgecv.cli.precision_step import PRECISIONS, lower, output_paths

    if precision not in PRECISIONS:
        raise EdgecvError(f"--precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "int8" and calib is None:
        raise EdgecvError("--precision int8 needs --calib DIR", "pass a folder of real images (100+ is better)")
    engine = None
    if fmt == "engine":
        from edgecv.exporters.trt_build import require_tensorrt

        require_tensorrt()  # before minutes of export
        engine = output or checkpoint.with_suffix(".engine")
        output = None if checkpoint.suffix.lower() == ".onnx" else engine.with_suffix(".onnx")
        target = "tensorrt"
    fp32_path, final = output_paths(checkpoint, output, precision)

    def on_stage(name, seconds, detail):
        err.print(styled(("✓", "green"), f" {name:<9} {seconds:6.2f}s  {detail}"))

    def say(text):
        err.print(text)

    engine_args = dict(min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch, workspace_gib=workspace_gib,
                       rebuild=rebuild)
    precision_args = dict(calib=calib, calib_method=calib_method, activations=int8_activations,
                          keep_fp32=keep_fp32 or (), max_accuracy_drop=max_accuracy_drop,
                          min_agreement=min_agreement, on_stage=on_stage, say=say)
    if checkpoint.suffix.lower() == ".onnx":  # an existing edgecv ONNX: the precision step only (no torch)
        if precision == "fp32" and engine is None and repo is None:
            raise EdgecvError(f"{checkpoint} is already an ONNX file",
                              "pass --precision int8|fp16 or --format engine|triton")
        summary = lower(fp32_path, final, precision, **precision_args) if precision != "fp32" else {}
        if engine is not None:
            _engine(final, engine, summary, on_stage, say, engine_args)
        if repo is not None:
            _triton(final, repo, repo_name, max_batch, summary, on_stage)
        if json_out:
            out.print_json(json.dumps(summary))
        return
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx

    stated = mo.stated_spec(imgsz, resize, mean, std, interpolation, channel_order, labels, scores,
                            exif_transpose, high_bit_depth)
    opts = ExportOptions(output=fp32_path if output or precision != "fp32" else None, arch=arch, num_classes=num_classes, opset=opset, batch=batch,
                         odconv_mode=odconv_mode, target=target, exporter=exporter,
                         unsafe_load=unsafe_load, validate=not no_validate, model_file=model_file,
                         model_kwargs=parse_kwargs(model_arg), class_output=scores_output, stated=stated)

    res = export_onnx(checkpoint, opts, on_stage)
    summary = {
        "file": str(res.path), "size_bytes": res.size, "opset": res.opset, "exporter": res.exporter,
        "inputs": res.inputs, "outputs": res.outputs, "passes": res.passes,
        "validation": None if res.validation is None else res.validation.to_dict(),
    }
    if not json_out:
        io = lambda xs: ", ".join(f"{x['name']} {x['shape']}" for x in xs)  # noqa: E731
        err.print(f"{res.path}  {res.size / 1e6:.2f} MB  opset {res.opset}  ({res.exporter_note})")
        err.print(f"  inputs  {io(res.inputs)}\n  outputs {io(res.outputs)}")
        if res.validation is not None:
            for name, c in res.validation.rows:
                err.print(f"  validate {name:<14} max abs {c.max_abs:.2e}  max rel {c.max_rel:.2e}  "
                          f"top-1 {c.top1:.0%}")
    if precision != "fp32":
        summary["lowered"] = lower(res.path, final, precision, **precision_args)
    if engine is not None:
        _engine(final, engine, summary, on_stage, say, engine_args)
    if repo is not None:
        _triton(final, repo, repo_name, max_batch, summary, on_stage)
    if json_out:
        out.print_json(json.dumps(summary))


def _triton(onnx_path, repo, name, max_batch, summary, on_stage):
    """The final ONNX as the next version of a model in the Triton repository ``repo``."""
    import time

    from edgecv.exporters.triton_repo import write_triton_repo

    t = time.perf_counter()
    res = write_triton_repo(onnx_path, repo, name, max_batch=max_batch)
    summary["triton"] = {"model_dir": str(res.model_dir), "version": res.version, "config": res.config}
    on_stage("triton", time.perf_counter() - t, f"{res.model_file}  (tritonserver --model-repository {repo})")


def _engine(onnx_path, engine, summary, on_stage, say, engine_args):
    """TensorRT engine from the final ONNX (fp32, fp16 or Q/DQ int8), reused when its cache key matches."""
    import time

    from edgecv.exporters.trt_build import build_engine

    t = time.perf_counter()
    summary["engine"] = str(build_engine(onnx_path, engine, say=say, **engine_args))
    on_stage("engine", time.perf_counter() - t, summary["engine"])
