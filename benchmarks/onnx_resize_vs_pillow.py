"""ONNX's own antialiased ``Resize`` against Pillow's resize, and edgecv's embedded preprocessing.

    python benchmarks/onnx_resize_vs_pillow.py

Why ``--embed-preprocessing`` computes Pillow's filter weights itself instead of using ONNX
``Resize(antialias=1)``: on skimage's photos resized to four sizes, ONNX Runtime's ``Resize``
(uint8, linear / cubic with a = -0.5, half_pixel) is compared pixel for pixel with ``PIL.Image.resize``,
and so is edgecv's embedded graph (resize only: no crop, no normalisation).  Writes
benchmarks/results/onnx_resize_vs_pillow.md.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

REPORT = Path(__file__).resolve().parent / "results" / "onnx_resize_vs_pillow.md"
SIZES = [(224, 300), (256, 341), (100, 77), (500, 620)]


def _ort_resize(mode: str, a: float):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode, antialias=1,
                            coordinate_transformation_mode="half_pixel", cubic_coeff_a=a)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 3, None, None]),
                                        helper.make_tensor_value_info("sizes", TensorProto.INT64, [4])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)])
    m.ir_version = 9
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda img, size: s.run(None, {"x": img.transpose(2, 0, 1)[None].copy(),
                                          "sizes": np.array([1, 3, *size], np.int64)})[0][0].transpose(1, 2, 0)


def _embedded(interpolation: str):
    import onnxruntime as ort

    from edgecv.exporters.embed_pre import build
    from edgecv.loaders.pipelines import installed_resampler
    from edgecv.spec import ModelSpec

    sessions = {}

    def run(img, size):
        if size not in sessions:  # the exact size, no crop: the resize alone; mean 0, std 1/255 -> grey levels
            spec = ModelSpec(arch="x", num_classes=1, input_size=size, resize=size, interpolation=interpolation,
                             mean=(0, 0, 0), std=(1 / 255,) * 3, resampler=installed_resampler())
            sessions[size] = ort.InferenceSession(build(spec, "y", 18, 9).SerializeToString(),
                                                  providers=["CPUExecutionProvider"])
        return np.rint(sessions[size].run(None, {"image": img[None]})[0][0]).astype(np.uint8).transpose(1, 2, 0)
    return run


def main() -> None:
    import skimage.data as sd
    from PIL import Image

    images = [sd.astronaut(), sd.chelsea(), sd.coffee(), sd.rocket()]
    lines = ["# ONNX Resize (antialias) and edgecv's embedded resize against Pillow", "",
             "`python benchmarks/onnx_resize_vs_pillow.py`: 4 skimage photos x 4 sizes, uint8 pixels.", "",
             "| resize | interpolation | worst grey levels | pixels differing |", "|---|---|---:|---:|"]
    for interp, pil, mode, a in (("bilinear", Image.BILINEAR, "linear", -0.75), ("bicubic", Image.BICUBIC, "cubic", -0.5)):
        for name, fn in (("ONNX Resize antialias=1", _ort_resize(mode, a)), ("edgecv --embed-preprocessing",
                                                                             _embedded(interp))):
            worst, frac = 0, []
            for img in images:
                for size in SIZES:
                    ref = np.asarray(Image.fromarray(img).resize(size[::-1], pil)).astype(int)
                    d = np.abs(ref - fn(img, size).astype(int))
                    worst, frac = max(worst, int(d.max())), frac + [float((d > 0).mean())]
            lines.append(f"| {name} | {interp} | {worst} | {max(frac):.2%} (worst image) |")
            print(lines[-1], flush=True)
    REPORT.write_text("\n".join(lines) + "\n")
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
