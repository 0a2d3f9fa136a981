"""The precision step after the fp32 ONNX (torch-free): ``edgecv export --precision int8|fp16``, also
on its own from an existing ONNX (``edgecv export model.onnx --precision ...``).  ``say`` gets the
lines of its summary; the numbers come back as a dict."""
from __future__ import annotations

from pathlib import Path

from edgecv.errors import CheckFailed, EdgecvError

def lower(fp32: Path, final: Path, precision: str, opts=None, *, on_stage=None, say=print) -> dict:
    """``fp32`` lowered to ``precision`` as ``final``; ``opts``: ``pipeline.PrecisionOptions``."""
    from edgecv.exporters.pipeline import PrecisionOptions

    o = opts or PrecisionOptions()
    fp32, final = Path(fp32), Path(final)
    if final.resolve() == fp32.resolve():
        raise EdgecvError(f"-o {final} would overwrite the fp32 model", "choose another -o")
    from edgecv.runtimes.modelfile.onnx_file import load_model_proto

    load_model_proto(fp32)  # a graph, with its external data inside its folder, before any tool reads it
    if precision == "int8":
        from edgecv.exporters.precision.int8 import Int8Options, quantize_int8

        if o.calib is None:
            raise EdgecvError("--precision int8 needs --calib DIR", "pass a folder of real images (100+ is better)")
        res = quantize_int8(fp32, final, Int8Options(calib=Path(o.calib), method=o.calib_method,
                                                     activations=o.int8_activations, keep_fp32=tuple(o.keep_fp32),
                                                     max_accuracy_drop=o.max_accuracy_drop / 100,
                                                     min_agreement=o.min_agreement, target_cpu=o.target_cpu),
                             on_stage)
        c = res.chosen
        judged = f"top-1 agreement with fp32 {c.agreement:.1%} on {res.checked} images" + (
            f", accuracy {c.accuracy:.1%} vs fp32 {res.fp32_accuracy:.1%} on {res.held_out} held-out"
            if c.accuracy is not None else "")
        say(f"{final}  int8 ({c.activations} activations: fastest within budget of {len(res.attempts)} tried), "
            f"{judged}")
        say(f"  speed at batch 1: fp32 {res.fp32_ms:.2f} ms, int8 {res.int8_ms:.2f} ms = {res.speedup:.2f}x"
            + ("" if res.speedup > 1 else "  (INT8 is not faster on this CPU)"))
        if c.kept_fp32:
            say(f"  kept in fp32: {len(c.kept_fp32)} nodes (modules: {', '.join(res.kept_modules) or 'unnamed'})")
        for n in res.notes:
            say(f"  note: {n}")
        return {"file": str(final), "precision": "int8", **res.to_dict()}
    if precision == "fp16":
        from edgecv.exporters.precision.fp16 import convert_fp16

        kept = convert_fp16(fp32, final)
        cmp = validate_against(fp32, final, "fp16")
        if not cmp:
            final.unlink(missing_ok=True)
            raise CheckFailed(f"fp16 differs from fp32 beyond its tolerance ({cmp.reason}); {final} was not written",
                              "keep fp32, or report the model")
        say(f"{final}  fp16 (fp32 inputs/outputs; kept in fp32: {', '.join(kept['fp32_ops']) or 'nothing'}), "
            f"rel L2 {cmp.rel_l2:.1e} vs fp32, top-1 {cmp.top1:.0%}")
        return {"file": str(final), "precision": "fp16", "rel_l2": cmp.rel_l2, "top1": cmp.top1, **kept}
    raise EdgecvError(f"--precision {precision!r} is not fp16 or int8")


def validate_against(fp32: Path, candidate: Path, precision: str):
    """The candidate against the fp32 file in ONNX Runtime (CPU): random inputs and sample photos."""
    import numpy as np

    from edgecv.assets import sample_photos
    from edgecv.parity import TOLERANCES
    from edgecv.runtimes import load
    from edgecv.runtimes.pipeline.images import DecodeOptions, read_image
    from edgecv.runtimes.pipeline.preprocess import Preprocessor

    with load(fp32, "onnxruntime", providers=["cpu"]) as ref, load(candidate, "onnxruntime", providers=["cpu"]) as rt:
        s = ref.spec
        xs = [np.random.default_rng(0).standard_normal((3, s.channels, *s.input_size)).astype(np.float32)]
        photos = sample_photos()
        if photos:
            pre = Preprocessor(s)
            xs.append(pre.batch([read_image(p, DecodeOptions.for_spec(s)) for p in photos]))
        x = np.concatenate(xs)
        if ref.inputs[0].static_batch:
            x = x[:ref.inputs[0].static_batch]
        return TOLERANCES[precision](ref.infer(x), rt.infer(x))
