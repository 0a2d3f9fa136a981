"""Tracing a model to ONNX, and the order of attempts that keeps the first faithful file.

``Attempts`` yields one traced graph after another: the dynamo exporter, then the TorchScript one
(``--exporter auto``), each with a dynamic batch; the caller validates each against torch and keeps
the first that passes.  A graph that fails is not the end:

* the exporter fixed the batch (its input has a number where ``batch`` should be, or the graph is
  right at the traced batch and wrong at others): after every exporter has had its try, the line of
  the model's source that did it is named (``batch_check``) and, when the batch was not stated, the
  model is exported with a static batch of 1, said in a warning; ``--batch dynamic`` stops instead;
* the numbers are wrong at every batch: the next exporter is tried (a graph silently wrong from one
  exporter is often right from the other), and when torch's own float32 and float64 answers differ
  beyond the tolerance, the file is held to float64 torch and the model called unstable, not the
  export.
"""
from __future__ import annotations

import contextlib
import io
import re
import time
import warnings
from dataclasses import dataclass

import torch

from edgecv.errors import CheckFailed, EdgecvError
from edgecv.log import warn
from edgecv.parity import Tolerance
from edgecv.spec import ModelSpec

INPUT_NAME, OUTPUT_NAME = "input", "logits"


def conversion_hint(err: Exception) -> str:
    text = str(err)
    op = re.search(r"target=(torch\.ops\.[\w.]+)", text) or re.search(r"ONNX export of ([\w ]+?)[.\]]", text)
    where = re.search(r"scope: ([\w.:/]+)", text)
    first = next((ln.strip() for ln in text.splitlines() if "Error" in ln and ":" in ln), text.splitlines()[0] if text else "")
    parts = [f"op {op.group(1)}" if op else None, f"module {where.group(1).split('::')[-1]}" if where else None]
    return "; ".join(p for p in parts if p) or first[:200]


EXPORTER_NAMES = {"dynamo": "dynamo exporter", "torchscript": "TorchScript exporter"}


def exporter_order(exporter: str, odconv_mode: str | None) -> list[str]:
    """The exporters to try, in order: dynamo first (``auto``); TorchScript after it, unless the
    ODConv Scan placeholder (dynamo only) is in the graph."""
    if exporter not in ("auto", *EXPORTER_NAMES):
        raise EdgecvError(f"--exporter {exporter!r} is not auto, dynamo or torchscript")
    if exporter != "auto":
        return [exporter]
    return ["dynamo"] if odconv_mode == "scan" else ["dynamo", "torchscript"]


def reuse_torchlib_table() -> None:
    """Build onnxscript's table of ATen functions once per process, not once per export.

    torch's dynamo exporter asks onnxscript for that table on every export, and onnxscript parses the
    source of each of ~500 functions to make it: 1.3 s of a 2.3 s export of a small CNN, measured
    with cProfile.  The table is fixed once onnxscript is imported (edgecv registers its own ops
    through ``custom_translation_table``, never into it), so one copy serves every export.
    """
    import functools
    import importlib

    from torch.onnx._internal import _lazy_import

    try:
        apis = importlib.import_module(_lazy_import.onnxscript_apis._name)
    except (ImportError, AttributeError):  # another torch / onnxscript layout: exports stay as they are
        return
    fn = getattr(apis, "get_torchlib_ops", None)
    if fn is None or getattr(fn, "edgecv_cached", False):
        return
    once = functools.lru_cache(maxsize=1)(fn)

    def get_torchlib_ops():
        return list(once())

    get_torchlib_ops.edgecv_cached = True
    apis.get_torchlib_ops = get_torchlib_ops


def trace_one(model, example, dynamic: bool, opset, which: str, output_names=None):
    """One exporter's ONNXProgram or ModelProto; ``EdgecvError`` naming the op or module it failed on."""
    from edgecv.exporters.passes import TRACE_CONTEXTS

    torch._dynamo.reset()  # a second export in one process can silently come out static
    try:
        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            warnings.simplefilter("ignore")
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))  # torch.export prints partial graphs
            stack.enter_context(contextlib.redirect_stderr(io.StringIO()))  # when one capture strategy fails
            for _, ctx in TRACE_CONTEXTS:
                stack.enter_context(ctx())
            return export_graph(model, example, dynamic, opset, which, output_names)
    except EdgecvError:
        raise
    except Exception as e:  # noqa: BLE001 - both exporters raise many types
        raise EdgecvError(conversion_hint(e)) from None


def export_graph(model, example, dynamic, opset, which, output_names=None):
    import onnx

    if which == "dynamo":
        reuse_torchlib_table()
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


def check_input_shape(proto, spec: ModelSpec, dynamic: bool, batch):
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    got = [d.dim_param or d.dim_value for d in dims]
    want_chw = [spec.channels, *spec.input_size]
    batch_ok = (isinstance(got[0], str) and got[0] != "") if dynamic else got[0] == batch
    if len(got) != 4 or not batch_ok or got[1:] != want_chw:
        raise EdgecvError(f"exported input shape {got} is not the asked "
                          f"[{'batch' if dynamic else batch}, {', '.join(map(str, want_chw))}]",
                          "report this model; try --batch N or another --opset")


@dataclass
class Built:
    """One traced, optimised graph and how it was made."""

    proto: object  # onnx.ModelProto
    exporter: str
    batch: str | int  # "dynamic" or the fixed size
    note: str
    scans: int
    t_trace: float
    t_optimise: float
    summary: dict | None = None  # opset, nodes, inputs, outputs: kept when the proto is dropped after saving

    @property
    def dynamic(self) -> bool:
        return self.batch == "dynamic"

    @property
    def label(self) -> str:
        return f"{EXPORTER_NAMES[self.exporter]}, {'dynamic batch' if self.dynamic else f'batch {self.batch}'}"


def register_loose_constants(model) -> int:
    """Constants onnxscript's optimizer (run on the dynamo exporter's graph) leaves as values that no
    node produces and no initializer holds: the saved graph reads a name nothing defines and the ONNX
    checker refuses it ("must be topologically sorted").  Seen with torch.clamp's buffer bounds in
    timm/gemma4_vit_167m (``mul_121_min_1``: a renamed copy of one clamp's bounds for the next).
    Registers each as an initializer; returns how many."""
    if model is None or not hasattr(model, "graph"):
        return 0
    graph = model.graph
    known = set(graph.initializers) | {v.name for v in graph.inputs}
    n = 0
    for node in graph:
        for v in node.inputs:
            if (v is not None and v.producer() is None and v.const_value is not None and v.name
                    and v.name not in known):
                graph.register_initializer(v)
                known.add(v.name)
                n += 1
    return n


def _warned(val):
    """The kept file's validation, each of its notes said once as a warning."""
    for note in val.notes:
        warn(note)
    return val


class Attempts:
    """The graphs to try, in order (see the module doc); ``validate`` judges one, ``give_up`` raises
    the error that explains why none was kept."""

    def __init__(self, model, reference, spec: ModelSpec, options, order: list[str], batch: str | int,
                 output_names=None, odconv_mode=None):
        self.model, self.reference, self.spec, self.options = model, reference, spec, options
        self.order, self.batch, self.output_names, self.odconv_mode = order, batch, output_names, odconv_mode
        self.tol = Tolerance(options.atol, options.rtol)
        self.failed: list[str] = []  # "label: why", every attempt that was not kept
        self.batch_fixed: list[str] = []  # the attempts that failed because the batch was fixed
        self.wrong: list[tuple[str, object]] = []  # (label, Validation) of graphs wrong at every batch
        self.unstable: float | None = None
        self.batch_note = ""

    def __iter__(self):
        dynamic = self.batch in ("auto", "dynamic")
        for which in self.order:
            built = self._build(which, "dynamic" if dynamic else self.batch)
            if built is not None:
                yield built
        if not (dynamic and self.batch_fixed):
            return
        from edgecv.exporters.batch_check import FIX_HINT, batch_sites, explain

        c, (h, w) = self.spec.channels, self.spec.input_size
        self.batch_note = explain(batch_sites(self.reference, torch.randn(2, c, h, w)), 2)
        if self.batch == "dynamic":
            raise EdgecvError(f"no dynamic batch: {self.batch_note}", f"{FIX_HINT}; or export with --batch 1")
        warn(f"exporting with a static batch of 1 instead of a dynamic one: {self.batch_note} "
             f"(for a dynamic batch: {FIX_HINT}; `--batch dynamic` makes this an error)")
        for which in self.order:
            built = self._build(which, 1)
            if built is not None:
                yield built

    def _fail(self, label: str, why: str, batch_fixed: bool = False) -> None:
        self.failed.append(f"{label}: {why}")
        if batch_fixed:
            self.batch_fixed.append(label)
        warn(f"{label}: {why}")

    def reject(self, built: Built, why: str) -> None:
        """A built graph not kept for a reason found after building (the ONNX checker's)."""
        self._fail(built.label, why)

    def _note(self, which: str, batch) -> str:
        name = EXPORTER_NAMES[which] + (" (default)" if which == "dynamo" and not self.failed else "")
        if batch != "dynamic" and self.batch_fixed:
            name += f", static batch {batch}: the model's code fixes the batch"
        n = len(self.failed)
        return name + (f", after {n} attempt{'s' * (n > 1)} that failed (warned above)" if n else "")

    def _build(self, which: str, batch) -> Built | None:
        from edgecv.exporters.scan_conv import expand_scan_nodes

        dynamic = batch == "dynamic"
        label = f"{EXPORTER_NAMES[which]}, {'dynamic batch' if dynamic else f'batch {batch}'}"
        c, (h, w) = self.spec.channels, self.spec.input_size
        example = torch.randn(2 if dynamic else batch, c, h, w)  # torch.export specialises size-1 dims
        t = time.perf_counter()
        try:
            artifact = trace_one(self.model, example, dynamic, self.options.opset, which, self.output_names)
        except EdgecvError as e:
            self._fail(label, f"cannot export ({e.message})")
            return None
        t_trace = time.perf_counter() - t
        t = time.perf_counter()
        if hasattr(artifact, "optimize"):  # dynamo: onnxscript constant folding + dead-code removal
            artifact.optimize()
            register_loose_constants(getattr(artifact, "model", None))
        proto = getattr(artifact, "model_proto", artifact)
        scans = expand_scan_nodes(proto)
        first = proto.graph.input[0].type.tensor_type.shape.dim[0]
        if dynamic and not first.dim_param:
            self._fail(label, f"the exporter fixed the batch at {first.dim_value}", batch_fixed=True)
            return None
        check_input_shape(proto, self.spec, dynamic, batch)
        return Built(proto, which, batch, self._note(which, batch), scans, t_trace, time.perf_counter() - t)

    def validate(self, path, built: Built):
        """The file's ``Validation`` when it is kept; None when it is not (the reason recorded)."""
        from edgecv.exporters import validation as V

        batches = [1, 3] if built.dynamic else [built.batch]
        val = V.validate_onnx(path, self.reference, self.spec, batches, self.tol)
        if val.ok:
            return _warned(val)
        if built.dynamic:
            at_traced = V.validate_onnx(path, self.reference, self.spec, [2], self.tol)
            if at_traced.ok:
                self._fail(built.label, f"right at the traced batch 2, wrong at others ({val.worst()})",
                           batch_fixed=True)
                return None
        if self.unstable is None:
            self.unstable = V.reference_instability(self.reference, self.spec, batches, self.tol) or 0.0
        if self.unstable:
            loose = Tolerance(max(self.tol.atol or 0.0, 2 * self.unstable), self.tol.rtol)
            against64 = V.validate_onnx(path, self.reference, self.spec, batches, loose, fp64=True)
            if against64.ok:
                against64.notes.append(self._unstable_words() + f"; held to float64 torch within {loose.atol:.3g}")
                return _warned(against64)
        self.wrong.append((built.label, val))
        self._fail(built.label, f"validation failed ({val.worst()})")
        return None

    def _unstable_words(self) -> str:
        return (f"the torch model itself is numerically unstable: its float32 and float64 answers differ by "
                f"max abs {self.unstable:.3g} (random weights or exploding activations), beyond the tolerance")

    def give_up(self, out) -> None:
        if self.wrong:
            label, val = self.wrong[0]
            why = (f"; {self._unstable_words()}, and the file is not as close to float64 torch as float32 torch is"
                   if self.unstable else "")
            tried = f" (tried: {'; '.join(self.failed)})" if len(self.failed) > 1 else ""
            raise CheckFailed(
                f"validation failed: {label}: {val.worst()} (tolerance atol {self.options.atol} + rtol "
                f"{self.options.rtol} x |logits|){why}{tried}; {out} was not written",
                "compare against float64 with `edgecv verify --reference fp64`" if self.unstable else
                "run `edgecv verify --per-layer` to find the first diverging layer")
        hint = "try another --opset" + (", or another --odconv-mode (unfold works with both exporters)"
                                        if self.odconv_mode else "")
        raise EdgecvError(f"the exporter cannot handle this model ({' | '.join(self.failed)})", hint)
