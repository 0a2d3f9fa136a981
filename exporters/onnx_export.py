"""``edgecv export``: checkpoint -> ONNX with a dynamic batch, rewrites, embedded spec, validation.

Stages: load, rewrite, trace, optimise, validate, write.  The file is written to a temporary path
next to the target, checked and validated there, and only then renamed over the target: a failed
or interrupted export never leaves a partial file and never replaces a good one.

Exporter choice: the dynamo-based ``torch.onnx.export(dynamo=True)`` first (default in torch 2.x,
handles swin_t / vit_b_16 with a dynamic batch, and is the only one that can emit the ODConv Scan);
on a conversion failure the TorchScript exporter is tried with ``dynamic_axes``, and the summary
says which one produced the file and why.
"""
from __future__ import annotations

import contextlib
import copy
import re
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgecv.errors import CheckFailed, EdgecvError
from edgecv.exporters.export_options import ExportOptions, ExportResult, Validation  # noqa: F401 (re-exported)
from edgecv.log import warn
from edgecv.parity import Tolerance
from edgecv.spec import METADATA_KEY, ModelSpec

INPUT_NAME, OUTPUT_NAME = "input", "logits"
MAX_PROTO_BYTES = 2**31 - 1


def resolve_odconv_mode(mode: str, target: str) -> str:
    from edgecv.exporters.passes import ODCONV_MODES

    if mode == "auto":
        return "static-mix" if target == "tensorrt" else "scan"
    if mode not in ODCONV_MODES:
        raise EdgecvError(f"--odconv-mode {mode!r} is not one of auto, {', '.join(ODCONV_MODES)}")
    return mode


def _conversion_hint(err: Exception) -> str:
    text = str(err)
    op = re.search(r"target=(torch\.ops\.[\w.]+)", text) or re.search(r"ONNX export of ([\w ]+?)[.\]]", text)
    where = re.search(r"scope: ([\w.:/]+)", text)
    first = next((ln.strip() for ln in text.splitlines() if "Error" in ln and ":" in ln), text.splitlines()[0] if text else "")
    parts = [f"op {op.group(1)}" if op else None, f"module {where.group(1).split('::')[-1]}" if where else None]
    return "; ".join(p for p in parts if p) or first[:200]


def _trace(model, example, dynamic: bool, opset, exporter: str, odconv_mode: str | None, output_names=None):
    """Returns (ONNXProgram or onnx.ModelProto, exporter used, note)."""
    from edgecv.exporters.passes import TRACE_CONTEXTS

    errors = []
    order = ["dynamo", "torchscript"] if exporter == "auto" else [exporter]
    if odconv_mode == "scan" and "torchscript" in order and exporter == "auto":
        order = ["dynamo"]  # the Scan placeholder exists only for the dynamo exporter
    for which in order:
        torch._dynamo.reset()  # a second export in one process can silently come out static
        try:
            with warnings.catch_warnings(), contextlib.ExitStack() as stack:
                warnings.simplefilter("ignore")
                for _, ctx in TRACE_CONTEXTS:
                    stack.enter_context(ctx())
                proto = _export_one(model, example, dynamic, opset, which, output_names)
            note = "dynamo exporter (default)" if which == "dynamo" else \
                f"TorchScript exporter (dynamo failed: {errors[0]})" if errors else "TorchScript exporter (asked for)"
            return proto, which, note
        except EdgecvError:
            raise
        except Exception as e:  # noqa: BLE001 - both exporters raise many types
            errors.append(_conversion_hint(e))
    hint = "try another --opset" + (", or another --odconv-mode (unfold works with both exporters)"
                                    if odconv_mode else "")
    raise EdgecvError(f"the exporter cannot handle this model ({' | '.join(errors)})", hint)


def _export_one(model, example, dynamic, opset, which, output_names=None):
    import io

    import onnx

    if which == "dynamo":
        kwargs = {"dynamic_shapes": ({0: torch.export.Dim("batch", min=1, max=4096)},)} if dynamic else {}
        prog = torch.onnx.export(model, (example,), dynamo=True, input_names=[INPUT_NAME],
                                 output_names=[OUTPUT_NAME], opset_version=opset, optimize=False,
                                 verbose=False, **kwargs)
        return prog  # optimised in its own stage
    buf = io.BytesIO()
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic else None
    torch.onnx.export(model, (example,), buf, dynamo=False, input_names=[INPUT_NAME],
                      output_names=output_names or [OUTPUT_NAME], opset_version=opset or 17, dynamic_axes=axes)
    proto = onnx.load_from_string(buf.getvalue())
    if output_names and len(proto.graph.output) > 1:  # keep only the class scores
        proto = onnx.utils.Extractor(proto).extract_model([INPUT_NAME], [OUTPUT_NAME])
    return proto


def _scripted(model, example):
    """A TorchScript model (maybe behind ``SelectOutput``) is exported as itself by the TorchScript
    exporter, every output named, then pruned to the class scores: (module, output names) or None."""
    from edgecv.loaders.outputs import SelectOutput, index_of

    inner = model.model if isinstance(model, SelectOutput) else model
    if not isinstance(inner, torch.jit.ScriptModule):
        return None
    with torch.inference_mode():
        raw = inner(example)
    idx, n = index_of(raw, model.key if isinstance(model, SelectOutput) else None)
    names = [f"output_{i}" for i in range(n)]
    names[idx] = OUTPUT_NAME
    return inner, names


def _io(vis) -> list[dict]:
    return [{"name": v.name, "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]}
            for v in vis]


def _check_input_shape(proto, spec: ModelSpec, dynamic: bool, batch):
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    got = [d.dim_param or d.dim_value for d in dims]
    want_chw = [spec.channels, *spec.input_size]
    batch_ok = (isinstance(got[0], str) and got[0] != "") if dynamic else got[0] == batch
    if len(got) != 4 or not batch_ok or got[1:] != want_chw:
        raise EdgecvError(f"exported input shape {got} is not the asked "
                          f"[{'batch' if dynamic else batch}, {', '.join(map(str, want_chw))}]",
                          "report this model; try --batch N or another --opset")


def _validation_inputs(spec: ModelSpec, batches: list[int], notes: list[str]) -> list[tuple[str, np.ndarray]]:
    from edgecv.assets import sample_photos

    rng = np.random.default_rng(0)
    c, (h, w) = spec.channels, spec.input_size
    cases = [(f"random b={b}", rng.standard_normal((b, c, h, w)).astype(np.float32)) for b in batches]
    photos = sample_photos()
    if not photos:
        notes.append("no real photos to validate on (edgecv installed without samples/): random inputs only")
        warn(notes[-1] + "; run `edgecv verify --images DIR` for real images")
        return cases
    from PIL import Image

    from edgecv.training.transforms import eval_transform

    tf = eval_transform(spec)
    x = torch.stack([tf(Image.open(p)) for p in photos]).numpy()
    b = batches[-1]
    x = np.resize(x, (b, *x.shape[1:])) if len(x) != b and batches == [b] else x
    cases.append((f"photos b={len(x)}", x.astype(np.float32)))
    return cases


def validate_onnx(path, model, spec: ModelSpec, batches: list[int], tol: Tolerance) -> Validation:
    """Run the file through ``edgecv.runtimes`` (ONNX Runtime, CPU) against the torch reference."""
    from edgecv.loaders.reference import TorchReference
    from edgecv.runtimes import load

    ref = TorchReference(model)
    val = Validation()
    with load(path, "onnxruntime", providers=["cpu"]) as rt:
        for name, x in _validation_inputs(spec, batches, val.notes):
            val.rows.append((name, tol(ref(x), rt.infer(x))))
    return val


def export_onnx(checkpoint, options: ExportOptions,
                on_stage: Callable[[str, float, str], None] | None = None) -> ExportResult:
    """``checkpoint``: a path any model source reads, an in-memory ``nn.Module`` (``options.output``
    then names the file), or an already loaded ``LoadedModel``."""
    import onnx

    from edgecv import __version__
    from edgecv.fileio import atomic_write
    from edgecv.loaders.checkpoint import load_model
    from edgecv.loaders.finish import FOREIGN
    from edgecv.exporters.passes import PassOptions, apply_module_passes
    from edgecv.exporters.scan_conv import expand_scan_nodes

    from edgecv.loaders.request import LoadedModel

    given = checkpoint
    if isinstance(given, (str, Path)):
        checkpoint = Path(given)
    elif options.output is None:
        raise EdgecvError("exporting an in-memory model needs an output path", "pass output='model.onnx'")
    else:
        checkpoint = given.path if isinstance(given, LoadedModel) else Path(f"<{type(given).__name__}>")
    out = Path(options.output) if options.output else checkpoint.with_suffix(".onnx")
    if out.resolve() == checkpoint.resolve():
        raise EdgecvError(f"output {out} would overwrite the checkpoint", "pass -o OUT.onnx")
    if not out.parent.is_dir():
        raise EdgecvError(f"output folder {out.parent} does not exist", "create it or choose another -o")
    dynamic = options.batch == "dynamic"
    if not dynamic:
        try:
            options.batch = int(options.batch)
            assert options.batch >= 1
        except (ValueError, AssertionError):
            raise EdgecvError(f"--batch {options.batch!r} must be 'dynamic' or a positive integer") from None
    mode = resolve_odconv_mode(options.odconv_mode, options.target)
    stages: list[tuple[str, float, str]] = []

    def stage(name, t0, detail=""):
        stages.append((name, time.perf_counter() - t0, detail))
        if on_stage:
            on_stage(name, stages[-1][1], detail)

    t = time.perf_counter()
    if isinstance(given, LoadedModel):
        lm = given
    elif isinstance(given, (str, Path)):
        lm = load_model(checkpoint, **options.load_kwargs())
    else:
        from edgecv.loaders.sources.module import load_module

        lm = load_module(given, **options.load_kwargs())
    spec = copy.deepcopy(lm.spec)
    if lm.fixed_batch and dynamic:
        dynamic, options.batch = False, lm.fixed_batch
    if lm.kind not in FOREIGN:  # foreign models were probed at load; a zoo model at a stated size is not
        from edgecv.loaders.probe import forward

        reason = forward(lm.model, spec.channels, spec.input_size, lm.fixed_batch or 2)[1]
        if reason is not None:
            raise EdgecvError(f"{spec.arch} does not run on a {spec.channels}x{spec.input_size[0]}x"
                              f"{spec.input_size[1]} input ({reason})", "check --imgsz (and --channel-order)")
    stage("load", t, f"{spec.arch} ({lm.kind}), {spec.num_classes} classes, input "
          f"{spec.channels}x{spec.input_size[0]}x{spec.input_size[1]}")
    for note in lm.notes:
        warn(note)
    if options.check_preprocessing and lm.pipeline is not None:
        _check_preprocessing(lm, spec, options, out, stage)

    t = time.perf_counter()
    reference = lm.model.eval()
    model = copy.deepcopy(reference).eval()
    passes = apply_module_passes(model, PassOptions(odconv_mode=mode, odconv_temperature=options.odconv_temperature))
    if options.odconv_temperature is not None and passes.get("rewrite_odconv"):
        reference = model_with_temperature(reference, options.odconv_temperature)
    stage("rewrite", t, ", ".join(f"{k}: {v}" for k, v in passes.items() if v) or "nothing to rewrite")

    if "scores" not in options.stated:
        spec.scores = detect_scores(reference, spec, options.batch if not dynamic else 3)
        spec.provenance["scores"] = "inferred"
        if spec.scores != "logits":
            warn(f"the model outputs {spec.scores.replace('_', '-')} (checked on the validation inputs): "
                 "edgecv will not apply softmax again")

    t = time.perf_counter()
    b = 2 if dynamic else options.batch  # torch.export specialises size-1 dims: trace with >= 2
    example = torch.randn(b, spec.channels, *spec.input_size)
    scripted = _scripted(model, example)
    if scripted is not None:
        model, names = scripted
    artifact, exporter, note = _trace(model, example, dynamic, options.opset,
                                      "torchscript" if scripted else options.exporter,
                                      mode if passes.get("rewrite_odconv") else None,
                                      names if scripted else None)
    if scripted:
        note = "TorchScript exporter (the model is TorchScript)"
    stage("trace", t, note)

    t = time.perf_counter()
    if hasattr(artifact, "optimize"):  # dynamo: onnxscript constant folding + dead-code removal
        artifact.optimize()
    proto = getattr(artifact, "model_proto", artifact)
    scans = expand_scan_nodes(proto)
    _check_input_shape(proto, spec, dynamic, options.batch)
    spec.extra = {**spec.extra, "edgecv_version": __version__, "source": checkpoint.name,
                  "source_sha256": lm.sha256,
                  "export": {"batch": options.batch, "opset": _opset(proto), "exporter": exporter,
                             "odconv_mode": mode if passes.get("rewrite_odconv") else None,
                             "passes": passes, "target": options.target,
                             "imgsz": list(spec.input_size)}}
    onnx.helper.set_model_props(proto, {METADATA_KEY: spec.to_json()})
    proto.doc_string = f"edgecv {__version__}: {spec.arch} from {checkpoint.name}"
    if proto.ByteSize() > MAX_PROTO_BYTES:
        raise EdgecvError(f"{spec.arch} is larger than 2 GB as one ONNX file",
                          "external-data export is not supported yet")
    try:
        proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:  # noqa: BLE001
        raise EdgecvError(f"the exported graph does not pass the ONNX checker: {str(e).splitlines()[0][:200]}") from None
    stage("optimise", t, f"{len(proto.graph.node)} nodes" + (f", {scans} Scan" if scans else "") + ", checker ok")

    validation = None

    def write_and_validate(tmp):
        nonlocal validation
        onnx.save_model(proto, tmp)
        if options.validate:
            t_v = time.perf_counter()
            batches = [1, 3] if dynamic else [options.batch]
            tol = Tolerance(options.atol, options.rtol)
            validation = validate_onnx(tmp, reference, spec, batches, tol)
            stage("validate", t_v, f"max abs {validation.max_abs:.2e}, max rel {validation.max_rel:.2e}"
                  + "".join(f"; {n}" for n in validation.notes))
            if not validation.ok:
                name, worst = max(validation.rows, key=lambda r: r[1].max_abs)
                raise CheckFailed(
                    f"validation failed: {name} max abs error {worst.max_abs:.3g} "
                    f"(tolerance atol {options.atol} + rtol {options.rtol} x |logits|), "
                    f"top-1 agreement {worst.top1:.0%}; {out} was not written",
                    "run `edgecv verify --per-layer` to find the first diverging layer")

    t = time.perf_counter()
    atomic_write(out, write_and_validate)
    stages.append(("write", time.perf_counter() - t - sum(s[1] for s in stages if s[0] == "validate"), str(out)))
    if on_stage:
        on_stage(*stages[-1])
    return ExportResult(path=out, size=out.stat().st_size, opset=_opset(proto), exporter=exporter,
                        exporter_note=note, inputs=_io(proto.graph.input), outputs=_io(proto.graph.output),
                        passes=passes, spec=spec, validation=validation, stages=stages)


def _check_preprocessing(lm, spec: ModelSpec, options: ExportOptions, out: Path, stage) -> None:
    """The source's own preprocessing against edgecv's deploy side (``preprocess_check``); the result
    goes into the spec.  A mismatch stops the export unless ``allow_preprocessing_mismatch``."""
    from edgecv.exporters.preprocess_check import check_preprocessing

    t = time.perf_counter()
    check = check_preprocessing(lm.pipeline, spec)
    spec.extra = {**spec.extra, "preprocessing_check": check.to_dict()}
    stage("preprocess", t, check.describe())
    if check.ok:
        return
    if not options.allow_preprocessing_mismatch:
        raise CheckFailed(f"edgecv's preprocessing differs from {check.source} by up to {check.max_grey:.3g} grey "
                          f"levels on {check.over} of {check.images} images ({check.step}); {out} was not written",
                          "state the preprocessing that differs, or pass --allow-preprocessing-mismatch to write "
                          "the file anyway")
    warn(f"preprocessing differs from {check.source} ({check.step}); written anyway "
         "(--allow-preprocessing-mismatch), and recorded in the file's spec")


def detect_scores(model, spec: ModelSpec, batch: int) -> str:
    """``probabilities`` / ``log_probabilities`` when every output row on the validation inputs
    (random and real photos) already is a distribution; otherwise ``logits``."""
    from edgecv.loaders.reference import TorchReference

    if spec.num_classes < 2:
        return "logits"
    ref = TorchReference(model)
    outs = np.concatenate([ref(x) for _, x in _validation_inputs(spec, [batch], [])]).astype(np.float64)
    if np.all(outs >= -1e-6) and np.all(outs <= 1 + 1e-6) and np.allclose(outs.sum(1), 1.0, atol=1e-3):
        return "probabilities"
    if np.all(outs <= 1e-6):
        lse = np.log(np.exp(outs).sum(1))
        if np.allclose(lse, 0.0, atol=1e-3):
            return "log_probabilities"
    return "logits"


def model_with_temperature(model, temperature):
    """The reference gets the same (baked) attention temperature as the exported graph."""
    for m in model.modules():
        if hasattr(m, "update_temperature") and not hasattr(m, "net_update_temperature"):
            m.update_temperature(temperature)
    return model


def _opset(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
