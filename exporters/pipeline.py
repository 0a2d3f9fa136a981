"""The export pipeline, in the library: model -> fp32 ONNX -> precision -> format.

``export(model, output, ...)`` is what ``edgecv export`` and ``edgecv.export`` run.  ``model`` is an
in-memory ``nn.Module``, any model file or directory ``edgecv.loaders`` reads, or an existing ONNX file
(then only the precision and format steps run, without torch).  Each step reports through ``on_stage``
and ``say``; the result object holds every number (``to_dict()`` is ``export --json``).

Formats are one table (``FORMATS``: name -> builder, output suffixes, options dataclass), the idea of
Ultralytics' export-format table: a new format is one file with its builder plus one line here
(``register_format``).  Options are checked against the chosen format's dataclass by name.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

from edgecv.errors import EdgecvError

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class PrecisionOptions:
    """``--precision int8`` / ``fp16`` from the fp32 ONNX (see ``exporters.precision``)."""

    calib: Path | None = None
    calib_method: str = "minmax"
    int8_activations: str = "auto"
    target_cpu: str | None = None  # int8: the CPU the file will run on (avx2 | avx512 | avx512-vnni | arm64)
    keep_fp32: tuple[str, ...] = ()
    max_accuracy_drop: float = 0.5  # top-1 points
    min_agreement: float = 0.99


@dataclass(frozen=True)
class NoOptions:
    pass


@dataclass(frozen=True)
class EngineOptions:
    """TensorRT engine build (``exporters.trt_build``)."""

    min_batch: int = 1
    opt_batch: int = 8
    max_batch: int = 32
    workspace_gib: float = 2.0
    rebuild: bool = False


@dataclass(frozen=True)
class TritonOptions:
    """A Triton model repository (``exporters.triton_repo``)."""

    name: str | None = None
    max_batch: int = 32


@dataclass
class Format:
    name: str
    build: Callable | None  # (final onnx, target, options, report, on_stage, say) -> None; None: the ONNX is it
    suffixes: tuple[str, ...]  # what -o may end in ("": a folder)
    options: type = NoOptions
    needs: Callable | None = None  # checked before minutes of export (a missing package, a missing GPU)
    onnx_target: str | None = None  # what the fp32 export optimises for (ODConv: tensorrt wants static-mix)
    help: str = ""


def _engine(onnx_path: Path, target: Path, opts: EngineOptions, report, on_stage, say):
    from edgecv.exporters.trt_build import build_engine

    t = time.perf_counter()
    report.engine = build_engine(onnx_path, target, say=say, **asdict(opts))
    on_stage("engine", time.perf_counter() - t, str(report.engine))


def _engine_needs():
    from edgecv.exporters.trt_build import require_tensorrt

    require_tensorrt()


def _triton(onnx_path: Path, repo: Path, opts: TritonOptions, report, on_stage, say):
    from edgecv.exporters.triton_repo import write_triton_repo

    t = time.perf_counter()
    res = write_triton_repo(onnx_path, repo, opts.name, max_batch=opts.max_batch)
    report.triton = {"model_dir": str(res.model_dir), "version": res.version, "config": res.config}
    on_stage("triton", time.perf_counter() - t, f"{res.model_file}  (tritonserver --model-repository {repo})")


def _triton_needs():
    from edgecv.exporters.triton_repo import model_config_pb2

    model_config_pb2()


FORMATS: dict[str, Format] = {
    "onnx": Format("onnx", None, (".onnx",), help="ONNX with a dynamic batch, spec embedded"),
    "engine": Format("engine", _engine, (".engine", ".plan"), EngineOptions, _engine_needs, "tensorrt",
                     "a TensorRT engine built on this machine's GPU (the .onnx kept beside it)"),
    "triton": Format("triton", _triton, ("",), TritonOptions, _triton_needs,
                     help="a Triton model repository folder"),
}


def register_format(fmt: Format) -> Format:
    """Add an export format (the one line a new format adds); a name is registered once."""
    if fmt.name in FORMATS:
        raise ValueError(f"export format {fmt.name!r} is already registered")
    FORMATS[fmt.name] = fmt
    return fmt


@dataclass
class ExportReport:
    """What one export produced: the fp32 ONNX (``onnx``: the ``ExportResult``, None when the input
    already was an ONNX file), the lowered file, the format's output, the final file."""

    format: str
    precision: str
    final: Path
    onnx: object = None
    lowered: dict | None = None
    engine: Path | None = None
    triton: dict | None = None
    embedded: dict | None = None  # --embed-preprocessing: the check of the file taking raw images
    extra: dict = field(default_factory=dict)  # what a registered format adds

    @property
    def path(self) -> Path:
        return self.engine or self.final

    def to_dict(self) -> dict:
        d: dict = {}
        res = self.onnx
        if res is not None:
            d = {"file": str(res.path), "size_bytes": res.size, "opset": res.opset, "exporter": res.exporter,
                 "inputs": res.inputs, "outputs": res.outputs, "passes": res.passes,
                 "validation": None if res.validation is None else res.validation.to_dict(),
                 "preprocessing_check": res.spec.extra.get("preprocessing_check")}
        if self.lowered is not None:
            d["lowered"] = self.lowered
        if self.engine is not None:
            d["engine"] = str(self.engine)
        if self.triton is not None:
            d["triton"] = self.triton
        return {**d, **self.extra}


def format_options(fmt: Format, options: dict):
    """The format's options dataclass from keyword options; a name it does not take is refused."""
    known = {f.name for f in fields(fmt.options)}
    unknown = sorted(k for k, v in options.items() if v is not None and k not in known)
    if unknown:
        raise EdgecvError(f"--format {fmt.name} does not take {', '.join(unknown)}",
                          f"it takes {', '.join(sorted(known)) or 'no options'}")
    return fmt.options(**{k: v for k, v in options.items() if v is not None})


def output_paths(source: Path, output: Path | None, precision: str) -> tuple[Path, Path]:
    """(fp32 ONNX, final file): ``-o`` names the final file; the fp32 one sits beside it."""
    if source.suffix.lower() == ".onnx":
        return source, source if precision == "fp32" else output or source.with_name(f"{source.stem}.{precision}.onnx")
    if precision == "fp32":
        final = output or source.with_suffix(".onnx")
        return final, final
    final = output or source.with_name(f"{source.stem}.{precision}.onnx")
    return (final.with_name(f"{final.name.removesuffix('.onnx').removesuffix(f'.{precision}')}.fp32.onnx")
            if output else source.with_suffix(".onnx")), final


def export(model, output=None, *, format: str = "onnx", precision: str = "fp32", onnx_options=None,
           precision_options: PrecisionOptions | None = None, format_options_: dict | None = None,
           on_stage=None, say=None) -> ExportReport:
    """Export ``model`` (see the module doc).  ``onnx_options``: an ``ExportOptions`` for the fp32
    step (its ``output`` is set here); ``format_options_``: the chosen format's options by name."""
    from dataclasses import replace

    on_stage = on_stage or (lambda name, seconds, detail: None)
    say = say or (lambda text: None)
    if format not in FORMATS:
        raise EdgecvError(f"--format {format!r} is not one of {', '.join(FORMATS)}")
    if precision not in PRECISIONS:
        raise EdgecvError(f"--precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    fmt = FORMATS[format]
    fopts = format_options(fmt, format_options_ or {})
    popts = precision_options or PrecisionOptions()
    if precision == "int8" and popts.calib is None:
        raise EdgecvError("--precision int8 needs --calib DIR", "pass a folder of real images (100+ is better)")
    in_memory = not isinstance(model, (str, Path))
    source = None if in_memory else Path(model)
    if source is not None and not source.exists():
        raise EdgecvError(f"{source} does not exist")
    output = Path(output) if output is not None else None
    if in_memory and output is None:
        raise EdgecvError("exporting an in-memory model needs an output path", "pass output='model.onnx'")
    if onnx_options is not None and onnx_options.embed_preprocessing and fmt.build is not None:
        raise EdgecvError(f"--embed-preprocessing makes an ONNX file, not --format {fmt.name}",
                          "export the ONNX file with it; engines and Triton take preprocessed tensors")
    if fmt.needs:
        fmt.needs()  # before minutes of export
    target = output  # the format's own output (engine file, repository folder), when it has one
    if fmt.build is not None:
        if output is not None and "" not in fmt.suffixes and output.suffix.lower() not in fmt.suffixes:
            raise EdgecvError(f"-o {output} does not end in {' or '.join(fmt.suffixes)} (--format {fmt.name})")
        if "" in fmt.suffixes and output is not None and output.suffix.lower() in (".onnx", ".engine", ".plan", ".pbtxt"):
            raise EdgecvError(f"--format {fmt.name} writes a folder, not {output.name}", "give -o a folder, e.g. -o models/")
        base = source if source is not None else output
        default = base.parent / "triton_models" if "" in fmt.suffixes else base.with_suffix(fmt.suffixes[0])
        target = output or default
        output = None if "" in fmt.suffixes else (None if source is not None and source.suffix.lower() == ".onnx"
                                                  else target.with_suffix(".onnx"))
    elif output is not None and output.suffix.lower() != ".onnx":
        raise EdgecvError(f"-o/--output {output} is not a .onnx path",
                          f"to choose the class-score output among several, use --class-output {output}")
    onnx_source = source is not None and source.suffix.lower() == ".onnx"
    fp32, final = output_paths(source if source is not None else output, output, precision)
    if in_memory and precision != "fp32":
        fp32 = final.with_name(f"{final.name.removesuffix('.onnx').removesuffix(f'.{precision}')}.fp32.onnx")
    report = ExportReport(fmt.name, precision, final)
    if onnx_source:
        if precision == "fp32" and fmt.build is None:
            raise EdgecvError(f"{source} is already an ONNX file", "pass --precision int8|fp16 or --format engine|triton")
    else:
        from edgecv.exporters.onnx_export import ExportOptions, export_onnx

        opts = replace(onnx_options or ExportOptions(), output=fp32)
        if fmt.onnx_target:  # a named target of that family (tensorrt-10) is kept as it is
            from edgecv.exporters.targets import resolve

            if resolve(opts.target).family != fmt.onnx_target:
                opts = replace(opts, target=fmt.onnx_target)
        report.onnx = export_onnx(model, opts, on_stage)
    if precision != "fp32":
        from edgecv.exporters.precision.lower import lower

        report.lowered = lower(fp32, final, precision, popts, on_stage=on_stage, say=say)
        target_name = onnx_options.target if onnx_options is not None else "onnxruntime"
        from edgecv.exporters.targets import fit_file

        if fit_file(final, target_name):  # the quantizer / converter re-stamps IR version and opset
            say(f"  {final.name} fitted to --target {target_name} again after the {precision} step")
    if onnx_options is not None and onnx_options.embed_preprocessing:
        from edgecv.exporters.embed_pre import embed_file

        report.embedded = embed_file(final, say, upgrade=onnx_options.opset is None)  # the TorchScript exporter's 17
    if fmt.build is not None:
        fmt.build(final, target, fopts, report, on_stage, say)
    return report
