"""``edgecv verify``: parity of every candidate model file, on every backend that can run it,
against the eager torch model of the checkpoint.  ``bool(result)`` is True only when all passed.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgecv.errors import EdgecvError, ImageError, NeedsArch, RuntimeFailure
from edgecv.formats import backend_of
from edgecv.parity import TOLERANCES, Tolerance, end_to_end
from edgecv.runtimes.pipeline.preprocess import takes_raw_images

from edgecv.spec import ModelSpec

INT8_ACCURACY_DROP = 0.005  # labelled images: an int8 candidate may lose at most 0.5 top-1 points
NO_DIVERGENCE = "no module diverges"  # what the per-layer search says of a file that matches layer by layer


@dataclass
class Row:
    candidate: str
    runtime: str
    status: str  # pass | fail | skipped
    reason: str = ""
    precision: str = "fp32"
    max_abs: float = 0.0
    max_rel: float = 0.0
    rel_l2: float = 0.0
    cosine: float = 1.0
    top1: float = 1.0
    top5: float = 1.0
    e2e_max_rel: float | None = None
    e2e_top1: float | None = None
    accuracy: float | None = None
    reference_accuracy: float | None = None
    first_divergence: str | None = None
    preprocess: str | None = None  # the candidate's preprocessing against the source's own pipeline


@dataclass
class VerifyResult:
    reference: str
    rows: list[Row] = field(default_factory=list)
    inputs: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        ran = [r for r in self.rows if r.status != "skipped"]
        return bool(ran) and all(r.status == "pass" for r in ran)

    def counts(self) -> dict[str, int]:
        """Rows by status: {"pass": n, "fail": n, "skipped": n}."""
        return {k: sum(r.status == k for r in self.rows) for k in ("pass", "fail", "skipped")}

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if r.status == "fail"]

    def to_dict(self) -> dict:
        return {"passed": bool(self), "reference": self.reference, "inputs": self.inputs,
                "rows": [asdict(r) for r in self.rows]}


def precision_of(path: Path) -> str:
    if path.suffix.lower() != ".onnx":
        return "fp32"
    from edgecv.runtimes.modelfile.onnx_file import onnx_precision

    return onnx_precision(path)


def backends_for(path: Path) -> list[tuple[str, dict, str | None]]:
    """(backend, options, skip reason or None) for every backend that could run this file."""
    from edgecv.runtimes.hardware import cuda_device_count

    backend = backend_of(path)
    gpu = cuda_device_count() > 0
    if backend == "onnxruntime":
        import onnxruntime as ort

        avail = ort.get_available_providers()
        rows = [("onnxruntime", {"providers": ["cpu"]}, None)]
        for short, prov in (("cuda", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider")):
            why = None if gpu and prov in avail else ("no CUDA device" if not gpu else f"{prov} not in this onnxruntime build")
            rows.append(("onnxruntime", {"providers": [short]}, why))
        return rows
    if backend == "tensorrt":
        try:
            import tensorrt  # noqa: F401
            why = None if gpu else "no CUDA device"
        except Exception:  # noqa: BLE001
            why = "tensorrt does not import here"
        return [("tensorrt", {}, why)]
    return [("torch", {"device": "cpu"}, None)] + [("torch", {"device": "cuda"}, None if gpu else "no CUDA device")]


def _label(backend, options):
    """The name a row gets before (or without) running: what the runtime's .name would say."""
    if backend == "onnxruntime":
        from edgecv.runtimes.backends.onnxrt import SHORT

        return f"onnxruntime/{SHORT[options['providers'][0]]}"
    return f"{backend}/{options.get('device', 'gpu')}"


def default_images() -> list[Path]:
    from edgecv.assets import SAMPLES
    from edgecv.formats import is_image

    return sorted(p for d in ("digits", "photos") for p in (SAMPLES / d).rglob("*")
                  if is_image(p)) if SAMPLES.is_dir() else []


def spec_mismatch(ref: ModelSpec, cand: ModelSpec) -> str | None:
    diffs = [f"{k} {getattr(cand, k)} vs {getattr(ref, k)}" for k in
             ("input_size", "resize", "interpolation", "mean", "std", "channel_order")
             if getattr(cand, k) != getattr(ref, k)]
    return f"preprocessing: the candidate's spec differs from the checkpoint's ({'; '.join(diffs)})" if diffs else None


def _failing_module(err: Exception, path: Path) -> str:
    """Map an ORT runtime error to the torch module of the failing node, if the message names one."""
    m = re.search(r"node\. Name:'([^']+)'", str(err))
    if not m or path.suffix.lower() != ".onnx":
        return ""
    import onnx

    from edgecv.verification.layerwise import node_to_module

    mod = node_to_module(onnx.load(str(path), load_external_data=False), m.group(1))
    return f"{mod or '(root)'} (node {m.group(1)})" if mod is not None else f"node {m.group(1)}"


def _as_exported(how, model_files):
    """``how`` completed from the first candidate's spec (arch, builder arguments, classes, the
    preprocessing stated at export), or None when no candidate records an arch."""
    from dataclasses import replace

    from edgecv.runtimes.modelfile import read_model_spec

    for f in model_files:
        spec = read_model_spec(Path(f)) if Path(f).is_file() else None
        if spec is not None and spec.arch:
            return replace(how, arch=spec.arch, num_classes=how.num_classes or spec.num_classes,
                           model_kwargs={**spec.model_kwargs, **how.model_kwargs},
                           stated={**spec.stated_fields(), **how.stated})
    return None


def _reference_e2e(ref, spec: ModelSpec, images: list[Path]):
    """Training pipeline (torchvision on PIL) feeding torch."""
    import torch
    from PIL import Image, ImageOps

    from edgecv.training.transforms import eval_transform

    tf = eval_transform(spec)
    xs = []
    for p in images:
        with Image.open(p) as im:
            xs.append(tf(ImageOps.exif_transpose(im) if spec.exif_transpose else im))
    from edgecv.runtimes.pipeline.classify import check_batch, in_batches

    return in_batches(ref, torch.stack(xs).numpy().astype(np.float32), check_batch(spec.input_size))


def _random_checks(row: Row, rt, path: Path, inputs, expected, tol: Tolerance):
    """Random batches against the reference; fills ``row``; returns the worst input (or None)."""
    from edgecv.runtimes.pipeline.classify import in_batches

    worst, worst_x = None, None
    static = rt.inputs[0].static_batch  # a file fixed at one batch size runs every batch in its chunks
    for name, x in inputs:
        try:
            got = in_batches(rt.infer, x, static) if static and len(x) != static else rt.infer(x)
        except RuntimeFailure as e:  # the backend failed mid-graph: name the module if we can
            row.status, row.reason = "fail", f"{name}: {e.message}"
            row.first_divergence = _failing_module(e, path) or None
            break
        except EdgecvError as e:  # the input does not fit the model file
            row.status, row.reason = "fail", f"{name}: {e.message}"
            row.first_divergence = "input: " + e.message.split(": ", 1)[-1]
            break
        c = tol(expected[name], got)
        if worst is None or c.max_rel > worst.max_rel:
            worst, worst_x = c, x
        if not c:
            row.status = "fail"
            row.reason = row.reason or f"{name}: {c.reason}"
    if worst is not None:
        row.max_abs, row.max_rel, row.rel_l2 = worst.max_abs, worst.max_rel, worst.rel_l2
        row.cosine, row.top1, row.top5 = worst.cosine, worst.top1, worst.top5
    return worst_x


def _deploy_inputs(spec: ModelSpec, images: list[Path]):
    """Each image through the deploy side's own decoding and preprocessing (unreadables skipped); for
    a file with its preprocessing embedded, the decoded RGB images themselves, (H, W, 3) each."""
    from edgecv.runtimes.pipeline.images import DecodeOptions, read_image
    from edgecv.runtimes.pipeline.preprocess import preprocessor_for

    pre = preprocessor_for(spec)  # a Preprocessor, or RawImages: the RGB image as it is
    decode = DecodeOptions.for_spec(spec)
    ok_idx, xs = [], []
    for i, p in enumerate(images):
        try:
            xs.append(pre(read_image(p, decode)))
            ok_idx.append(i)
        except ImageError:
            continue
    return np.asarray(ok_idx, dtype=np.int64), xs if takes_raw_images(spec) else np.stack(xs)


def _raw_random_inputs(ref, spec: ModelSpec, seeds) -> tuple[list, dict]:
    """Random uint8 images of odd sizes, and the reference's answers on them through edgecv's
    preprocessing: the random checks of a file that takes raw images."""
    from edgecv.runtimes.pipeline.preprocess import Preprocessor

    pre = Preprocessor(spec, embedded_ok=True)
    th, tw = spec.input_size
    inputs = []
    for s in seeds:
        rng = np.random.default_rng(s)
        h, w = int(rng.integers(th, 3 * th + 1)), int(rng.integers(tw, 3 * tw + 1))
        inputs.append((f"seed {s} raw {h}x{w}", rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)))
    return inputs, {name: ref(pre(x[0])[None]) for name, x in inputs}


def _image_checks(row: Row, rt, spec: ModelSpec, deployed, e2e_ref, truth, tol: Tolerance):
    """Real images end to end: candidate (deploy pipeline) vs reference (training pipeline)."""
    ok_idx, xs = deployed
    from edgecv.runtimes.pipeline.classify import check_batch, in_batches

    if isinstance(xs, list):  # raw images of many sizes: one at a time
        got = np.concatenate([rt.infer(x[None]) for x in xs])
    else:  # gemma4_vit_167m at 768 px took 18.5 GB in batches of 8; memory bounded by the input size
        got = in_batches(rt.infer, xs, rt.inputs[0].static_batch or check_batch(spec.input_size))
    c = tol(e2e_ref[ok_idx], got)
    row.e2e_max_rel, row.e2e_top1 = c.max_rel, c.top1
    if (truth >= 0).any():
        t_ok = truth[ok_idx]
        row.accuracy = float((got.argmax(1) == t_ok)[t_ok >= 0].mean())
        row.reference_accuracy = float((e2e_ref.argmax(1) == truth)[truth >= 0].mean())
    if row.accuracy is not None and row.precision == "int8" and row.accuracy < row.reference_accuracy - INT8_ACCURACY_DROP:
        row.status = "fail"
        row.reason = row.reason or (f"int8 accuracy {row.accuracy:.1%} vs {row.reference_accuracy:.1%} "
                                    f"(budget {INT8_ACCURACY_DROP * 100:g} points)")
    if not c:
        row.status = "fail"
        row.reason = row.reason or f"real images end to end: max rel {c.max_rel:.3g}, top-1 agreement {c.top1:.0%}"
        mismatch = spec_mismatch(spec, rt.spec)
        if mismatch and row.first_divergence is None:
            row.first_divergence = mismatch


def verify(checkpoint, model_files=(), *, images=None, batch_sizes=(1, 2, 7), seeds=(0, 1),
           arch=None, num_classes=None, unsafe_load=False, atol=None, rtol=None, reference="fp32",
           per_layer=False, backends=None, progress=None, model_file=None, model_kwargs=None, output=None,
           stated=None, transforms=None) -> VerifyResult:
    """``model_file`` / ``model_kwargs`` / ``output`` / ``stated`` rebuild the reference as ``export``
    built it (see ``ExportOptions``)."""
    from edgecv.exporters.export_options import ExportOptions
    from edgecv.loaders.checkpoint import load_model
    from edgecv.runtimes import load

    how = ExportOptions(arch=arch, num_classes=num_classes, unsafe_load=unsafe_load, model_file=model_file,
                        model_kwargs=dict(model_kwargs or {}), class_output=output, stated=dict(stated or {}),
                        transforms=transforms)
    if not isinstance(checkpoint, (str, Path)):  # an in-memory nn.Module
        from edgecv.loaders.sources.module import load_module

        loaded = load_module(checkpoint, **how.load_kwargs())
        checkpoint = loaded.path
    else:
        try:
            loaded = load_model(checkpoint, **how.load_kwargs())
        except NeedsArch:
            how = _as_exported(how, model_files)  # bare weights: the exported file records its arch
            if how is None:
                raise
            loaded = load_model(checkpoint, **how.load_kwargs())
    from edgecv.loaders.reference import TorchReference

    model = loaded.model.eval()
    # fp64: an upcast copy; ``model`` stays fp32
    ref = TorchReference(model, fp64=reference == "fp64", fixed_batch=loaded.fixed_batch)
    spec = loaded.spec
    if loaded.fixed_batch:  # a static .pt2 runs at its one batch size only
        batch_sizes = [loaded.fixed_batch]
    tmp = None
    files = [Path(f) for f in model_files]
    for f in files:
        if not f.is_file():
            raise EdgecvError(f"model file {f} does not exist")
    if not files:  # export to every format available here
        from dataclasses import replace

        from edgecv.exporters.onnx_export import export_onnx

        tmp = tempfile.TemporaryDirectory(prefix="edgecv-verify-")
        name = re.sub(r"[^\w.-]+", "_", spec.arch)
        files = [export_onnx(loaded, replace(how, output=Path(tmp.name) / f"{name}.onnx", validate=False,
                                             check_preprocessing=False)).path]  # checked below, per candidate
    images = default_images() if images is None else list(images)
    rng_inputs = [(f"seed {s} b={b}", np.random.default_rng(s).standard_normal(
        (b, spec.channels, *spec.input_size)).astype(np.float32)) for s in seeds for b in batch_sizes]
    expected = {name: ref(x) for name, x in rng_inputs}
    from edgecv.exporters.validation import input_independent
    from edgecv.log import warn

    if input_independent(list(expected.values())):
        warn(f"{spec.arch}: the reference answers the same for every random input, so these checks cannot tell a "
             "right file from a wrong one (a zero-initialised head, or activations that vanish with random "
             "weights?); verify with trained weights")
    e2e_ref = _reference_e2e(ref, spec, images) if images else None
    # labelled images: those in a folder named after a class (ImageFolder layout)
    truth = np.array([spec.labels.index(p.parent.name) if p.parent.name in spec.labels else -1 for p in images])
    result = VerifyResult(str(checkpoint), inputs={"random": [n for n, _ in rng_inputs], "images": len(images),
                                                   "labelled": int((truth >= 0).sum()), "reference": reference})
    try:
        for f in files:
            precision = precision_of(f)
            tol = TOLERANCES[precision].with_overrides(atol, rtol)
            deployed = None  # (indices that decoded, preprocessed batch) with this candidate's spec
            checked = None  # the candidate's preprocessing against the source's pipeline (once per file)
            for backend, options, skip in backends_for(f):
                label = _label(backend, options)
                if backends and backend not in backends and label not in backends:
                    continue
                if skip:
                    result.rows.append(Row(f.name, label, "skipped", skip, precision))
                    continue
                row = Row(f.name, label, "pass", precision=precision)
                if progress:
                    progress(f"{f.name} on {label}")
                with load(f, backend, **options) as rt:
                    row.runtime = rt.name
                    if loaded.pipeline is not None:
                        if checked is None:
                            from edgecv.exporters.preprocess_check import check_preprocessing

                            checked = check_preprocessing(loaded.pipeline, rt.spec)
                        row.preprocess = checked.describe()
                        if not checked.ok:
                            row.status, row.reason = "fail", f"preprocessing: {checked.step}"
                    if takes_raw_images(rt.spec):  # raw uint8 images in, so raw random images
                        raw_inputs, raw_expected = _raw_random_inputs(ref, rt.spec, seeds)
                        _random_checks(row, rt, f, raw_inputs, raw_expected, tol)
                        row.preprocess = (row.preprocess + "; " if row.preprocess else "") + "embedded in the graph"
                        worst_x = None  # the per-layer search feeds tensors
                    else:
                        worst_x = _random_checks(row, rt, f, rng_inputs, expected, tol)
                    if images and row.first_divergence is None:
                        if deployed is None:  # the same for every backend of this candidate
                            deployed = _deploy_inputs(rt.spec, images)
                        _image_checks(row, rt, spec, deployed, e2e_ref, truth, end_to_end(precision))
                    if (per_layer or row.status == "fail") and row.first_divergence is None \
                            and f.suffix.lower() == ".onnx" and worst_x is not None:
                        from edgecv.verification.layerwise import first_divergence

                        d = first_divergence(f, model, worst_x[:1], tol)
                        row.first_divergence = d.describe() if d else (NO_DIVERGENCE if per_layer else None)
                result.rows.append(row)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return result
