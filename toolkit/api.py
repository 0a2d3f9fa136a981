"""edgecv's Python API: five calls on in-memory models or files, each returning an object with the
numbers (``to_dict()`` is the CLI's ``--json``).  The CLI parses options into these same calls and
prints their results.

    import edgecv
    res = edgecv.export(model, "m.onnx", imgsz=(224, 224), labels=names)       # nn.Module or a path
    report = edgecv.verify(model, ["m.onnx", "m.int8.onnx"])                    # truthy when all pass
    with edgecv.load("m.onnx") as rt:
        preds = rt.classify([rgb_array, "photo.jpg", pil_image], topk=5)       # run's preprocessing
    ev = edgecv.evaluate("m.onnx", "data/val")                                  # accuracy, per class
    table = edgecv.bench(["m.pt", "m.onnx"], batch_sizes=(1, 8))

Options are the CLI's option names with underscores and take the CLI's values (``resize="none"``,
``resize=256``, ``mean=(0.5, 0.5, 0.5)``, ``labels=["cat", "dog"]`` or a labels file).  Errors are the
``EdgecvError`` family with the CLI's one-line messages.  Importing edgecv never imports torch: the
deploy half (``load``, ``evaluate`` and ``bench`` of model files) runs on a box without it; ``export``
and ``verify`` import torch when called.
"""
from __future__ import annotations

from pathlib import Path


def _onnx_options(model, *, imgsz=None, resize=None, mean=None, std=None, interpolation=None, channel_order=None,
                  labels=None, scores=None, exif_transpose=None, high_bit_depth=None, transforms=None, arch=None,
                  num_classes=None, model_file=None, model_arg=None, class_output=None, batch="auto",
                  opset=None, odconv_mode="auto", target="onnxruntime", check_target=False, embed_preprocessing=False,
                  exporter="auto",
                  unsafe_load=False, validate=True, allow_preprocessing_mismatch=False):
    from edgecv.exporters.export_options import ExportOptions
    from edgecv.stated import parse_kwargs, stated_spec

    stated = stated_spec(imgsz, resize, mean, std, interpolation, channel_order, labels, scores, exif_transpose,
                         high_bit_depth)
    return ExportOptions(arch=arch, num_classes=num_classes, opset=opset, batch=batch, odconv_mode=odconv_mode,
                         target=target, check_target=check_target, embed_preprocessing=embed_preprocessing, exporter=exporter, unsafe_load=unsafe_load, validate=validate,
                         model_file=model_file, model_kwargs=parse_kwargs(model_arg), class_output=class_output,
                         stated=stated, transforms=transforms,
                         allow_preprocessing_mismatch=allow_preprocessing_mismatch)


_ONNX = ("imgsz", "resize", "mean", "std", "interpolation", "channel_order", "labels", "scores", "exif_transpose",
         "high_bit_depth", "transforms", "arch", "num_classes", "model_file", "model_arg", "class_output", "batch",
         "opset", "odconv_mode", "target", "check_target", "embed_preprocessing", "exporter", "unsafe_load", "validate", "allow_preprocessing_mismatch")
_PRECISION = ("calib", "calib_method", "int8_activations", "target_cpu", "keep_fp32", "max_accuracy_drop", "min_agreement")


def export(model, output=None, *, format: str = "onnx", precision: str = "fp32", on_stage=None, say=None, **options):
    """Export ``model`` (an ``nn.Module``, a checkpoint, weights with ``arch`` / ``model_file``,
    TorchScript, ``.pt2``, a Hugging Face directory, or an existing ``.onnx`` for the precision and
    format steps) to ``output``: ONNX with a dynamic batch and the spec embedded, validated against
    torch, its preprocessing checked against the source's own pipeline; then ``precision`` ("fp16",
    "int8" with ``calib=DIR``) and ``format`` ("engine", "triton", or a registered one, with that
    format's options).  Returns ``ExportReport`` (``.path``, ``.onnx``, ``.lowered``, ``to_dict()``)."""
    from edgecv.errors import EdgecvError
    from edgecv.exporters.pipeline import FORMATS, PrecisionOptions
    from edgecv.exporters.pipeline import export as run_export

    onnx = {k: options.pop(k) for k in _ONNX if k in options}
    prec = {k: options.pop(k) for k in _PRECISION if k in options}
    if "keep_fp32" in prec:
        prec["keep_fp32"] = tuple(prec["keep_fp32"] or ())
    if format not in FORMATS:
        raise EdgecvError(f"--format {format!r} is not one of {', '.join(FORMATS)}")
    return run_export(model, output, format=format, precision=precision, onnx_options=_onnx_options(model, **onnx),
                      precision_options=PrecisionOptions(**{k: v for k, v in prec.items() if v is not None}),
                      format_options_=options, on_stage=on_stage, say=say)


def verify(model, candidates=(), *, images=None, batch_sizes=(1, 2, 7), seeds=(0, 1), backends=None,
           reference: str = "fp32", per_layer: bool = False, atol=None, rtol=None, progress=None, **model_options):
    """Check every candidate model file against ``model`` (the reference: an ``nn.Module`` or the
    checkpoint they came from; none given: export one here) on every backend that runs it: random
    batches, real images end to end through each side's own preprocessing, the preprocessing itself
    against the source's pipeline.  Returns ``VerifyResult``: truthy when every candidate passes."""
    from edgecv.verification import verify as run_verify

    opts = _onnx_options(model, **{k: v for k, v in model_options.items()})
    return run_verify(model, list(candidates), images=images, batch_sizes=batch_sizes, seeds=seeds,
                      backends=backends, reference=reference, per_layer=per_layer, atol=atol, rtol=rtol,
                      progress=progress, arch=opts.arch, num_classes=opts.num_classes, unsafe_load=opts.unsafe_load,
                      model_file=opts.model_file, model_kwargs=opts.model_kwargs, output=opts.class_output,
                      stated=opts.stated, transforms=opts.transforms)


def load(path, backend: str = "auto", **options):
    """A runtime for a model file (``.onnx``, ``.engine``, or a torch file where torch is installed):
    use it as a context manager; ``rt.classify(images, topk=5)`` runs ``edgecv run``'s decoding and
    preprocessing, ``rt.infer(batch)`` the model alone.  ``options`` are the backend's
    (``edgecv.runtimes.options``)."""
    from edgecv.runtimes import load as load_runtime

    return load_runtime(path, backend, **options)


def evaluate(model, data, *, backend: str = "auto", batch_size: int = 32, progress=None, **options):
    """Accuracy, per-class precision / recall / F1 and the confusion matrix of ``model`` (a model file,
    or an active runtime) on ``data`` (an ImageFolder root, ``"digits"`` / ``"mnist5k"``, or
    ``LabelledData``), through ``run``'s preprocessing.  Returns ``EvalResult``."""
    from edgecv.runtimes.base import Runtime
    from edgecv.runtimes.evaluate import evaluate as run_eval

    data = labelled_data(data)
    if isinstance(model, Runtime):
        return run_eval(model.activate(), data, batch_size, progress)
    with load(model, backend, **options) as rt:
        return run_eval(rt, data, batch_size, progress)


from edgecv.training.builtin import labelled_data  # noqa: E402  (torch-free; re-exported for the CLI)


def bench(models, *, batch_sizes=(1, 8), seconds: float = 3.0, backends=("torch", "onnxruntime", "tensorrt"),
          threads=None, data=None, calib=None, floor: bool = True, progress=None):
    """Time every form of each model side by side (a checkpoint as torch eager and as its ONNX forms,
    a model file as it is): p50 / p95 latency, throughput, speed-up over eager, memory, accuracy on
    ``data``, the machine's floor.  Returns ``BenchReport`` (``.rows``, ``.skipped``, ``.cpu``)."""
    from edgecv.exporters.bench_plan import run_bench

    return run_bench([Path(m) for m in models], list(batch_sizes), seconds, list(backends), threads=threads,
                     data=data, calib=calib, floor=floor, progress=progress)


__all__ = ["export", "verify", "load", "evaluate", "bench"]
