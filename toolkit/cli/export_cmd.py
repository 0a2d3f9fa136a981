from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.cli import model_options as mo
from edgecv.cli.common import cli_errors, err, out, styled

from edgecv.exporters.pipeline import FORMATS  # noqa: E402  (the table; torch-free)

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
    batch: Annotated[str, typer.Option(
        help="auto: dynamic, or a static 1 (with a warning naming the line) when the model's own code fixes "
             "its batch; dynamic: that is an error instead; or a fixed batch size N")] = "auto",
    imgsz: mo.Imgsz = None,
    resize: mo.Resize = None,
    mean: mo.Mean = None,
    std: mo.Std = None,
    interpolation: mo.Interpolation = None,
    channel_order: mo.ChannelOrder = None,
    labels: mo.Labels = None,
    transforms: mo.Transforms = None,
    allow_preprocessing_mismatch: Annotated[bool, typer.Option(
        "--allow-preprocessing-mismatch", rich_help_panel=mo.PRE,
        help="write the file even when edgecv's preprocessing differs from the source's own pipeline "
             "(the difference is recorded in its spec)")] = False,
    scores: mo.Scores = None,
    odconv_mode: Annotated[str, typer.Option(help="auto | scan | unfold | static-mix")] = "auto",
    target: Annotated[str, typer.Option(
        help="the runtime the file must load in: onnxruntime, tensorrt, or a version (ort-1.16, tensorrt-10, "
             "jetson-jp6; an unknown name lists them): opset and IR version are lowered to fit")] = "onnxruntime",
    embed_preprocessing: Annotated[bool, typer.Option(
        "--embed-preprocessing", help="the file takes raw uint8 images (N, H, W, 3) RGB of any size: the spec's "
                                      "resize, crop and normalisation run in the graph, for clients without edgecv")] = False,
    check_target: Annotated[bool, typer.Option(
        "--check-target", help="run the file in the target's own ONNX Runtime (installed by uv into a cached "
                               "throwaway environment) against torch before writing it")] = False,
    exporter: Annotated[str, typer.Option(help="auto | dynamo | torchscript")] = "auto",
    unsafe_load: mo.UnsafeLoad = False,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="skip the ONNX Runtime check")] = False,
    exif_transpose: Annotated[Optional[bool], typer.Option(
        "--exif-transpose/--no-exif-transpose",
        help="the training loader applied EXIF orientation (ImageOps.exif_transpose); default: as the "
             "checkpoint's spec says (torchvision's ImageFolder loader does not)", rich_help_panel=mo.PRE)] = None,
    high_bit_depth: Annotated[Optional[str], typer.Option(
        help="16-bit images as the training loader saw them: pil (PIL's convert('RGB')) | scale (v / 257)", rich_help_panel=mo.PRE)] = None,
    fmt: Annotated[str, typer.Option("--format", help=" | ".join(f"{f.name} ({f.help})" for f in FORMATS.values()))]
    = "onnx",
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
    target_cpu: Annotated[Optional[str], typer.Option(
        help="int8: the CPU the file will run on: avx2 | avx512 | avx512-vnni | arm64 [default: this one]; "
             "without VNNI only reduce-range (u8-reduced) gives the numbers measured here",
        rich_help_panel=PRECISION)] = None,
    min_batch: Annotated[Optional[int], typer.Option(help="engine: optimisation profile min batch [default: 1]",
                                                     rich_help_panel=ENGINE)] = None,
    opt_batch: Annotated[Optional[int], typer.Option(help="engine: profile batch TensorRT tunes for [default: 8]",
                                                     rich_help_panel=ENGINE)] = None,
    max_batch: Annotated[Optional[int], typer.Option(help="engine: profile max batch; triton: max_batch_size "
                                                     "[default: 32]", rich_help_panel=ENGINE)] = None,
    workspace_gib: Annotated[Optional[float], typer.Option(help="engine: TensorRT workspace limit, GiB [default: 2]",
                                                           rich_help_panel=ENGINE)] = None,
    rebuild: Annotated[Optional[bool], typer.Option("--rebuild", help="engine: rebuild even when the cached engine "
                                                    "matches", rich_help_panel=ENGINE)] = None,
    max_accuracy_drop: Annotated[float, typer.Option(help="int8 budget on labelled images, top-1 points", rich_help_panel=PRECISION)] = 0.5,
    min_agreement: Annotated[float, typer.Option(help="int8 budget: top-1 agreement with fp32 on "
                                                 "held-out images", rich_help_panel=PRECISION)] = 0.99,
    json_out: Annotated[bool, typer.Option("--json", help="summary as JSON on stdout")] = False,
):
    """Export a model to ONNX (dynamic batch, rewrites, embedded spec, validated against torch, its
    preprocessing checked against the source's own), then lower its precision and build a format."""
    import json

    from edgecv.api import export
    from edgecv.errors import EdgecvError

    if not checkpoint.exists():  # before seconds of importing torch
        raise EdgecvError(f"{checkpoint} does not exist")
    from edgecv.exporters.targets import resolve

    resolve(target)
    from edgecv.fileio import declare_inputs

    declare_inputs([checkpoint] + ([calib] if calib else []))

    def on_stage(name, seconds, detail):
        err.print(styled(("✓", "green"), f" {name:<9} {seconds:6.2f}s  {detail}"))

    engine_or_triton = {"min_batch": min_batch, "opt_batch": opt_batch, "max_batch": max_batch,
                        "workspace_gib": workspace_gib, "rebuild": rebuild, "name": repo_name}
    report = export(
        checkpoint, output, format=fmt, precision=precision, on_stage=on_stage, say=err.print,
        imgsz=imgsz, resize=resize, mean=mean, std=std, interpolation=interpolation, channel_order=channel_order,
        labels=labels, scores=scores, exif_transpose=exif_transpose, high_bit_depth=high_bit_depth,
        transforms=transforms, arch=arch, num_classes=num_classes, model_file=model_file, model_arg=model_arg,
        class_output=scores_output, batch=batch, opset=opset, odconv_mode=odconv_mode, target=target,
        check_target=check_target, embed_preprocessing=embed_preprocessing, exporter=exporter, unsafe_load=unsafe_load, validate=not no_validate,
        allow_preprocessing_mismatch=allow_preprocessing_mismatch, calib=calib, calib_method=calib_method,
        int8_activations=int8_activations, target_cpu=target_cpu, keep_fp32=keep_fp32, max_accuracy_drop=max_accuracy_drop,
        min_agreement=min_agreement, **engine_or_triton)
    res = report.onnx
    if json_out:
        out.print_json(json.dumps(report.to_dict()))
    elif res is not None:
        io = lambda xs: ", ".join(f"{x['name']} {x['shape']}" for x in xs)  # noqa: E731
        err.print(f"{res.path}  {res.size / 1e6:.2f} MB  opset {res.opset}  ({res.exporter_note})")
        err.print(f"  inputs  {io(res.inputs)}\n  outputs {io(res.outputs)}")
        if res.validation is not None:
            for name, c in res.validation.rows:
                err.print(f"  validate {name:<14} max abs {c.max_abs:.2e}  max rel {c.max_rel:.2e}  "
                          f"top-1 {c.top1:.0%}")
