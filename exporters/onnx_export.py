"""``edgecv export``: checkpoint -> ONNX with a dynamic batch, rewrites, embedded spec, validation.

Stages: load, rewrite, trace, optimise, validate, write.  The file is written to a temporary path
next to the target, checked and validated there, and only then renamed over the target: a failed
or interrupted export never leaves a partial file and never replaces a good one.

Exporter choice (``trace.Attempts``): the dynamo-based ``torch.onnx.export(dynamo=True)`` first
(handles swin_t / vit_b_16 with a dynamic batch, and is the only one that can emit the ODConv Scan),
then the TorchScript exporter, each graph validated and the first faithful one kept; a model whose
own code fixes the batch is exported with a static batch of 1, the line that fixes it named.  The
summary says which exporter produced the file and why.
"""
from __future__ import annotations

import copy
import glob
import os
import re
import secrets
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgecv.errors import CheckFailed, EdgecvError
from edgecv.exporters.export_options import ExportOptions, ExportResult, Validation  # noqa: F401 (re-exported)
from edgecv.log import warn
from edgecv.exporters.trace import INPUT_NAME, OUTPUT_NAME, Attempts, Built, exporter_order  # noqa: F401
from edgecv.exporters.validation import validate_onnx, validation_inputs  # noqa: F401 (re-exported)
from edgecv.exporters.memory import SINGLE_FILE_LIMIT, available_bytes, check_export_fits
from edgecv.spec import METADATA_KEY, ModelSpec



def resolve_odconv_mode(mode: str, target: str) -> str:
    from edgecv.exporters.passes import ODCONV_MODES
    from edgecv.exporters.targets import resolve

    if mode == "auto":
        return "static-mix" if resolve(target).family == "tensorrt" else "scan"
    if mode not in ODCONV_MODES:
        raise EdgecvError(f"--odconv-mode {mode!r} is not one of auto, {', '.join(ODCONV_MODES)}")
    return mode


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


def export_onnx(checkpoint, options: ExportOptions,
                on_stage: Callable[[str, float, str], None] | None = None) -> ExportResult:
    """``checkpoint``: a path any model source reads, an in-memory ``nn.Module`` (``options.output``
    then names the file), or an already loaded ``LoadedModel``."""
    import onnx

    from edgecv import __version__
    from edgecv.fileio import atomic_write
    from edgecv.loaders.checkpoint import load_model
    from edgecv.loaders.finish import FOREIGN
    from edgecv.exporters.passes import PassOptions, apply_module_passes, passes_apply
    from edgecv.exporters.targets import default_opset, fit, resolve

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
    dynamic = options.batch in ("auto", "dynamic")
    if not dynamic:
        try:
            options.batch = int(options.batch)
            assert options.batch >= 1
        except (ValueError, AssertionError):
            raise EdgecvError(f"--batch {options.batch!r} must be auto, dynamic or a positive integer",
                              "auto: dynamic, or 1 when the model's code fixes its batch") from None
    target = resolve(options.target)
    if options.opset and target.opset and options.opset > target.opset:
        raise EdgecvError(f"--opset {options.opset} is past what {target.name} implements ({target.opset})",
                          f"leave out --opset: export lowers the graph to opset {target.opset}")
    mode = resolve_odconv_mode(options.odconv_mode, options.target)
    stages: list[tuple[str, float, str]] = []

    def stage(name, t0, detail="", took=None):
        stages.append((name, took if took is not None else time.perf_counter() - t0, detail))
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
    copy_needed = passes_apply(reference)
    weights = check_export_fits(reference, spec.arch)
    if copy_needed:
        check_export_fits(reference, spec.arch, (available_bytes() or 2**62) - weights)
    model = copy.deepcopy(reference).eval() if copy_needed else reference
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

    scripted = _scripted(model, torch.randn(lm.fixed_batch or 2, spec.channels, *spec.input_size))
    if scripted is not None:
        model, names = scripted
    odconv = mode if passes.get("rewrite_odconv") else None
    order = exporter_order("torchscript" if scripted else options.exporter, odconv)
    attempts = Attempts(model, reference, spec, options, order, options.batch, names if scripted else None, odconv)
    built: Built | None = None
    validation = None

    def finish(b: Built):
        b.proto = fit(b.proto, target)
        spec.extra = {**spec.extra, "edgecv_version": __version__, "source": checkpoint.name, "source_sha256": lm.sha256,
                      "export": {"batch": b.batch, "opset": default_opset(b.proto), "exporter": b.exporter,
                                 "odconv_mode": odconv, "passes": passes, "target": options.target,
                                 "imgsz": list(spec.input_size),
                                 **({"batch_note": attempts.batch_note} if attempts.batch_note else {})}}
        onnx.helper.set_model_props(b.proto, {METADATA_KEY: spec.to_json()})
        b.proto.doc_string = f"edgecv {__version__}: {spec.arch} from {checkpoint.name}"

    data_files: list[Path] = []  # external-data files written (one per attempt past 2 GB)

    def save(b: Built, tmp):
        b.summary = {"opset": default_opset(b.proto), "nodes": len(b.proto.graph.node),
                     "inputs": _io(b.proto.graph.input), "outputs": _io(b.proto.graph.output)}
        if graph_bytes(b.proto) <= SINGLE_FILE_LIMIT:  # not ByteSize(): it costs four copies of the weights
            onnx.save_model(b.proto, tmp)
        else:
            _save_external(b, tmp)
        b.proto = None  # the file holds it now: one copy of the weights fewer while validating
        _check_graph(str(tmp))

    def _save_external(b: Built, tmp):
        # A new name per export: a file next to the output is never overwritten, and the data of
        # the file being replaced stays whole until the rename (older data files go after it).
        data = out.with_name(f"{out.name}.{secrets.token_hex(4)}.data")
        data_files.append(data)
        onnx.save_model(b.proto, tmp, save_as_external_data=True, all_tensors_to_one_file=True, location=data.name)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(data, 0o666 & ~umask)

    def write_and_validate(tmp):
        nonlocal built, validation
        for b in attempts:
            stage("trace", None, b.note, took=b.t_trace)
            t_o = time.perf_counter()
            finish(b)
            try:
                save(b, tmp)
            except InvalidGraph as e:  # the next exporter may write a valid one
                attempts.reject(b, e.message)
                continue
            detail = f"{b.summary['nodes']} nodes" + (f", {b.scans} Scan" if b.scans else "") + ", checker ok"
            stage("optimise", None, detail, took=b.t_optimise + time.perf_counter() - t_o)
            if not options.validate:
                built = b
                return
            t_v = time.perf_counter()
            validation = attempts.validate(tmp, b)
            if validation is not None:
                stage("validate", t_v, f"max abs {validation.max_abs:.2e}, max rel {validation.max_rel:.2e}"
                      + "".join(f"; {n}" for n in validation.notes))
                built = b
                if options.check_target:
                    _check_in_target(tmp, b)
                return
        attempts.give_up(out)

    def _check_in_target(tmp, b: Built):
        from edgecv.exporters.validation import validate_in_release

        if not target.requirement:
            raise EdgecvError(f"--check-target needs a target edgecv can install (ort-1.16 ...), not {target.name}")
        t_c = time.perf_counter()
        release = target.requirement.split("==")[1]
        checked = validate_in_release(tmp, reference, spec, b.batch if not b.dynamic else 3, attempts.tol, release)
        if not checked.ok:
            raise CheckFailed(f"the file runs differently in onnxruntime {release}: {checked.worst()}",
                              "report it: the version converter changed the graph's numbers")
        stage("target", t_c, f"onnxruntime {release}: max abs {checked.max_abs:.2e}")

    t, n0 = time.perf_counter(), len(stages)
    try:
        atomic_write(out, write_and_validate)
    finally:
        kept = next((d for d in data_files if _references(out, d)), None) if built else None
        for d in data_files:
            if d != kept:
                d.unlink(missing_ok=True)
    if kept is not None:  # data files of the exports this one replaced
        for old in out.parent.glob(f"{glob.escape(out.name)}.*.data"):
            if old != kept and re.fullmatch(re.escape(out.name) + r"\.[0-9a-f]{8}\.data", old.name):
                old.unlink(missing_ok=True)
    stages.append(("write", time.perf_counter() - t - sum(s[1] for s in stages[n0:]), str(out)))
    if on_stage:
        on_stage(*stages[-1])
    size = out.stat().st_size + (kept.stat().st_size if kept else 0)
    return ExportResult(path=out, size=size, opset=built.summary["opset"], exporter=built.exporter,
                        exporter_note=built.note, inputs=built.summary["inputs"], outputs=built.summary["outputs"],
                        passes=passes, spec=spec, validation=validation, stages=stages, batch=built.batch,
                        batch_note=attempts.batch_note, attempts=list(attempts.failed))


class InvalidGraph(EdgecvError):
    """An exported graph that ONNX's shape inference or checker refuses."""


def _check_graph(path: str) -> None:
    """ONNX shape inference (its shapes kept in the file) and the full checker, on the saved file: no
    copy of the graph in Python, and files past 2 GB (external data) too."""
    import onnx

    try:
        onnx.shape_inference.infer_shapes_path(path, path, check_type=True, strict_mode=True)
        onnx.checker.check_model(path, full_check=True)
    except Exception as e:  # noqa: BLE001
        raise InvalidGraph("the exported graph does not pass the ONNX checker: "
                          f"{str(e).splitlines()[0][:200]}") from None


def graph_bytes(proto) -> int:
    """The size of the weights in an ONNX graph (initializers and Constant nodes), without serializing it."""
    total = sum(len(t.raw_data) or t.ByteSize() for t in proto.graph.initializer)
    for node in proto.graph.node:
        total += sum(a.t.ByteSize() for a in node.attribute if a.HasField("t"))
    return total


def _references(model_path: Path, data: Path) -> bool:
    """Whether the ONNX file at ``model_path`` keeps its weights in ``data``."""
    import onnx

    if not model_path.is_file() or not data.is_file():
        return False
    proto = onnx.load(str(model_path), load_external_data=False)
    return any(e.key == "location" and e.value == data.name
               for t in proto.graph.initializer for e in t.external_data)


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
    outs = np.concatenate([ref(x) for _, x in validation_inputs(spec, [batch], [])]).astype(np.float64)
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


