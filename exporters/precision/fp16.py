"""FP16 for GPUs: fp16 weights and compute, fp32 inputs and outputs (``keep_io_types``), with the
ops where fp16 overflows or loses too much (LayerNorm, Softmax, reductions, exp / pow: known for
ViT / Swin attention and norms) kept in fp32.  onnxconverter-common does the conversion (the
converter ONNX Runtime's own docs point to); edgecv picks the block list and validates the result.
"""
from __future__ import annotations

from pathlib import Path

from edgecv.errors import EdgecvError

# Ops kept in fp32 on top of onnxconverter-common's own list.
FP32_OPS = ("LayerNormalization", "Softmax", "LogSoftmax", "ReduceMean", "ReduceSum", "ReduceSumSquare",
            "ReduceL2", "Pow", "Exp", "Sqrt", "Reciprocal", "Erf", "Scan", "Loop", "If",
            "InstanceNormalization", "GroupNormalization",
            # their float attribute (value) stays float32 while the converter retypes the output
            "ConstantOfShape")


def convert_fp16(src, out) -> dict:
    """Write an fp16 copy of ``src`` (an edgecv fp32 ONNX) to ``out``; returns what was kept."""
    import onnx

    try:
        from onnxconverter_common import float16
    except ImportError:
        raise EdgecvError("--precision fp16 needs onnxconverter-common", "pip install 'edgecv[quantize]'") from None
    from edgecv.fileio import atomic_write
    from edgecv.runtimes.modelfile.onnx_file import read_spec
    from edgecv.spec import METADATA_KEY

    src, out = Path(src), Path(out)
    spec = read_spec(src)
    if spec is None:
        raise EdgecvError(f"{src} carries no edgecv spec", "export it with `edgecv export` first")
    model = onnx.load(str(src))
    blocked = sorted({n.op_type for n in model.graph.node if n.op_type in FP32_OPS})
    half = float16.convert_float_to_float16(model, keep_io_types=True,
                                            op_block_list=list(float16.DEFAULT_OP_BLOCK_LIST) + list(FP32_OPS))
    spec.extra = {**spec.extra, "precision": "fp16", "fp16": {"fp32_ops": blocked, "source": src.name}}
    onnx.helper.set_model_props(half, {METADATA_KEY: spec.to_json()})
    atomic_write(out, lambda tmp: onnx.save(half, tmp))
    return {"fp32_ops": blocked}
