"""``--embed-preprocessing``: the spec's preprocessing as ONNX nodes in front of the model (torch-free).

The file then takes what a C++, C# or JavaScript client has after decoding a photo: ``image``, uint8
``(N, H, W, 3)`` RGB, any H and W (a grey model converts it in the graph).  In the graph, as
``runtimes.pipeline.preprocess`` does in numpy: PIL's ``convert("L")`` for grey models, the resize
(the spec's rule: shorter side, exact size, or none) with Pillow's (or torch's) antialiased
filter, both passes as float64 MatMuls with the filter's fixed-point weights computed from the
input size at run time and each pass rounded and clipped to 0..255 as Pillow does, in the installed
Pillow's pass order, then the centre crop (the spec's rounding), channel order and normalisation.
float64 keeps the fixed-point sums exact, so the pixels are Pillow's, bit for bit.

timm's letterbox (``resize_edge`` longer) fits the image in the box, and an image that resizes
smaller than the crop is padded with the spec's ``pad_fill`` (zeros by default), as in numpy.
Not expressible here: ``nearest`` resizing (Pillow accumulates its source coordinate by repeated
additions; refused at export).
"""
from __future__ import annotations

import numpy as np

from edgecv.errors import EdgecvError
from edgecv.runtimes.pipeline.preprocess import EMBEDDED_KEY, takes_raw_images
from edgecv.spec import ModelSpec

IMAGE = "image"
_FILTER_SUPPORT = {"bilinear": 1.0, "bicubic": 2.0}


class _Graph:
    """A small builder: ``op`` adds a node and returns its output name; ``c`` adds a constant."""

    def __init__(self, prefix: str = "pre_"):
        self.nodes, self.inits, self.prefix, self.n = [], [], prefix, 0

    def _name(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}"

    def c(self, value, dtype=np.float64) -> str:
        from onnx import numpy_helper

        name = self._name()
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, kind: str, *inputs: str, out: str | None = None, **attrs) -> str:
        from onnx import helper

        name = out or self._name()
        self.nodes.append(helper.make_node(kind, list(inputs), [name], name=f"{name}_{kind}", **attrs))
        return name

    # arithmetic sugar
    def add(self, a, b): return self.op("Add", a, b)
    def sub(self, a, b): return self.op("Sub", a, b)
    def mul(self, a, b): return self.op("Mul", a, b)
    def div(self, a, b): return self.op("Div", a, b)
    def floor(self, a): return self.op("Floor", a)
    def where(self, cond, a, b): return self.op("Where", cond, a, b)


def _filter(g: _Graph, x: str, interpolation: str) -> str:
    """Pillow's bilinear / bicubic (a = -0.5) filter of ``x``, term for term as ``preprocess._bicubic``."""
    ax = g.op("Abs", x)
    zero, one, two = g.c(0.0), g.c(1.0), g.c(2.0)
    if interpolation == "bilinear":
        return g.where(g.op("Less", ax, one), g.sub(one, ax), zero)
    a = -0.5
    inner = g.add(g.mul(g.mul(g.sub(g.mul(g.c(a + 2.0), ax), g.c(a + 3.0)), ax), ax), one)
    outer = g.mul(g.sub(g.mul(g.add(g.mul(g.sub(ax, g.c(5.0)), ax), g.c(8.0)), ax), g.c(4.0)), g.c(a))
    return g.where(g.op("Less", ax, one), inner, g.where(g.op("Less", ax, two), outer, zero))


def _weights(g: _Graph, n_in: str, n_out: str, interpolation: str, resampler: str) -> str:
    """The (n_out, n_in) float64 weight matrix of one resampling pass (``preprocess._coeffs`` made
    dense): each row the filter over its source window, normalised, rounded to fixed point."""
    half = g.c(0.5)
    scale = g.div(n_in, n_out)
    filterscale = g.op("Max", scale, g.c(1.0))
    support = g.mul(g.c(_FILTER_SUPPORT[interpolation]), filterscale)
    j = g.op("Range", g.c(0.0), n_out, g.c(1.0))
    centers = g.op("Unsqueeze", g.mul(g.add(j, half), scale), g.c([1], np.int64))  # (out, 1)
    # Pillow truncates; the window start is clipped at 0 and the end is positive, where floor = trunc
    xmin = g.op("Max", g.floor(g.add(g.sub(centers, support), half)), g.c(0.0))
    xmax = g.op("Min", g.floor(g.add(g.add(centers, support), half)), n_in)
    i = g.op("Unsqueeze", g.op("Range", g.c(0.0), n_in, g.c(1.0)), g.c([0], np.int64))  # (1, in)
    w = _filter(g, g.div(g.add(g.sub(i, centers), half), filterscale), interpolation)
    inside = g.op("And", g.op("GreaterOrEqual", i, xmin), g.op("Less", i, xmax))
    w = g.where(inside, w, g.c(0.0))
    w = g.div(w, g.op("ReduceSum", w, g.c([1], np.int64), keepdims=1))
    if resampler == "torch":  # int16 weights: the most fraction bits (<= 22) with which 2 x max fits
        wmax = g.op("ReduceMax", g.op("Abs", w), keepdims=0)
        log2 = g.div(g.op("Log", g.div(g.c(32767.5), wmax)), g.c(np.log(2.0)))
        bits = g.op("Min", g.op("Max", g.op("Ceil", g.sub(log2, g.c(1.0))), g.c(0.0)), g.c(22.0))
        unit = g.op("Pow", g.c(2.0), bits)
    else:
        unit = g.c(float(1 << 22))
    s = g.mul(w, unit)
    k = g.where(g.op("Less", s, g.c(0.0)), g.op("Neg", g.floor(g.sub(half, s))), g.floor(g.add(s, half)))
    return g.div(k, unit)


def _round_clip(g: _Graph, x: str) -> str:
    return g.op("Clip", g.floor(g.add(x, g.c(0.5))), g.c(0.0), g.c(255.0))


def _window(g: _Graph, weights: str, n_out: str, t: float, spec: ModelSpec) -> tuple[str, str]:
    """The ``t`` rows of one pass's (n_out, n_in) ``weights`` that the centre crop keeps, and which of
    them lie inside the resized image.  Resized larger than ``t``: the crop's offset (the spec's
    ``crop_rule``); smaller: the image sits after half the padding (``pad_rule``), and the rows
    outside it are zero here and the fill in the end (``resize_crop_chw``)."""
    margin = g.sub(n_out, g.c(t))  # may be negative
    crop = g.floor(g.div(margin, g.c(2.0))) if spec.crop_rule == "floor" else g.op("Round", g.div(margin, g.c(2.0)))
    pad = g.op("Neg", g.floor(g.div(g.sub(g.c(0.0) if spec.pad_rule == "floor" else g.c(1.0), margin), g.c(2.0))))
    offset = g.op("Cast", g.where(g.op("Less", margin, g.c(0.0)), pad, crop), to=7)
    idx = g.add(g.op("Range", g.c(0, np.int64), g.c(int(t), np.int64), g.c(1, np.int64)), offset)
    last = g.sub(g.op("Cast", n_out, to=7), g.c(1, np.int64))
    inside = g.op("And", g.op("GreaterOrEqual", idx, g.c(0, np.int64)), g.op("LessOrEqual", idx, last))
    picked = g.op("Gather", weights, g.op("Max", g.op("Min", idx, last), g.c(0, np.int64)), axis=0)
    return g.where(g.op("Unsqueeze", inside, g.c([1], np.int64)), picked, g.c(0.0)), inside


def _scalar(g: _Graph, shape: str, axis: int) -> str:
    """Dimension ``axis`` of ``shape`` as a float64 scalar."""
    return g.op("Cast", g.op("Gather", shape, g.c(axis, np.int64), axis=0), to=11)


def build(spec: ModelSpec, output: str, opset: int, ir_version: int):
    """The preprocessing graph: ``image`` uint8 (N, H, W, C) -> ``output`` float32 (N, C, th, tw)."""
    from onnx import TensorProto, helper

    if spec.interpolation not in _FILTER_SUPPORT:
        raise EdgecvError(f"--embed-preprocessing supports bilinear and bicubic resizing, not {spec.interpolation}",
                          "deploy with edgecv's runtime, or send images already at the model's input size")
    g = _Graph()
    gray = spec.channel_order == "GRAY"
    x = g.op("Transpose", g.op("Cast", IMAGE, to=11), perm=[0, 3, 1, 2])  # (N, C, H, W) float64
    if gray:  # PIL's convert("L") in 16-bit fixed point
        luma = g.op("ReduceSum", g.mul(x, g.c(np.array([19595, 38470, 7471], np.float64).reshape(1, 3, 1, 1))),
                    g.c([1], np.int64), keepdims=1)
        x = g.floor(g.div(g.add(luma, g.c(32768.0)), g.c(65536.0)))
    elif spec.channel_order == "BGR":
        x = g.op("Gather", x, g.c([2, 1, 0], np.int64), axis=1)
    shape = g.op("Shape", x)
    h, w = _scalar(g, shape, 2), _scalar(g, shape, 3)
    th, tw = (float(v) for v in spec.input_size)
    if spec.resize is None:
        oh, ow = g.c(th), g.c(tw)
    elif spec.resize_edge == "longer":  # timm's letterbox: fit inside the box, each side rounded (half to even)
        bh, bw = (spec.resize, spec.resize) if isinstance(spec.resize, int) else spec.resize
        ratio = g.op("Max", g.div(h, g.c(float(bh))), g.div(w, g.c(float(bw))))
        oh, ow = (g.op("Max", g.op("Round", g.div(side, ratio)), g.c(1.0)) for side in (h, w))
    elif isinstance(spec.resize, (tuple, list)):
        oh, ow = g.c(float(spec.resize[0])), g.c(float(spec.resize[1]))
    else:  # the shorter side to R, the longer truncated (torchvision's Resize(int))
        r = g.c(float(spec.resize))
        short, long = g.op("Min", h, w), g.op("Max", h, w)
        new_long = g.floor(g.div(g.mul(r, long), short))
        portrait = g.op("LessOrEqual", h, w)
        oh, ow = g.where(portrait, r, new_long), g.where(portrait, new_long, r)
    rows, inside_rows = _window(g, _weights(g, h, oh, spec.interpolation, spec.resampler), oh, th, spec)
    cols, inside_cols = _window(g, _weights(g, w, ow, spec.interpolation, spec.resampler), ow, tw, spec)
    cols_t = g.op("Transpose", cols, perm=[1, 0])  # (W, tw)

    def horizontal(v):
        return _round_clip(g, g.op("MatMul", v, cols_t))

    def vertical(v):
        return _round_clip(g, g.op("MatMul", rows, v))

    out = vertical(horizontal(x))
    if spec.resampler == "pillow13":  # rows first when the height shrinks by more than twice the width
        rows_first = g.op("And", g.op("Less", oh, h),
                          g.op("Greater", g.sub(h, oh), g.mul(g.c(2.0), g.sub(w, ow))))
        out = g.where(rows_first, horizontal(vertical(x)), out)
    # an image resized smaller than the crop: the padding is the spec's fill (zeros when it has none)
    inside = g.op("And", g.op("Unsqueeze", inside_rows, g.c([1], np.int64)),
                  g.op("Unsqueeze", inside_cols, g.c([0], np.int64)))
    fill = np.asarray(spec.pad_fill or (0,) * spec.channels, np.float64).reshape(1, -1, 1, 1)
    out = g.where(inside, out, g.c(fill))
    std = np.asarray(spec.std, np.float32).reshape(1, -1, 1, 1)
    scale = (1.0 / (255.0 * std)).astype(np.float32)
    shift = (-np.asarray(spec.mean, np.float32).reshape(1, -1, 1, 1) / std).astype(np.float32)
    g.op("Add", g.mul(g.op("Cast", out, to=1), g.c(scale, np.float32)), g.c(shift, np.float32), out=output)
    used = {i for n in g.nodes for i in n.input}
    g.inits = [t for t in g.inits if t.name in used]  # the filter's unused constants
    graph = helper.make_graph(
        g.nodes, "edgecv_preprocessing",
        [helper.make_tensor_value_info(IMAGE, TensorProto.UINT8, ["batch", "height", "width", 3])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", spec.channels, int(th), int(tw)])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", max(opset, 18))])
    model.ir_version = ir_version
    return model


def embed(proto, spec: ModelSpec, upgrade: bool = False):
    """``proto`` (an exported classifier taking the normalised float32 batch) with the preprocessing
    graph in front of it: its input becomes ``image``.  The graph needs opset 18; ``upgrade`` (the
    opset was not stated) converts an older file with ONNX's version converter instead of refusing."""
    from onnx import compose

    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 18)
    if opset < 18 and upgrade:
        from onnx import version_converter

        proto, opset = version_converter.convert_version(proto, 18), 18
    if opset < 18:
        raise EdgecvError(f"--embed-preprocessing needs opset 18 or later (the model has {opset})",
                          "leave out --opset, or pass --opset 18")
    model_input = proto.graph.input[0].name
    pre = build(spec, "pre_pixels", opset, proto.ir_version)
    merged = compose.merge_models(pre, proto, io_map=[("pre_pixels", model_input)],
                                  doc_string=proto.doc_string)
    del merged.metadata_props[:]
    merged.metadata_props.extend(proto.metadata_props)
    return merged


def embed_file(path, say=print, atol: float = 1e-3, upgrade: bool = False) -> dict:
    """Put the preprocessing into the exported ONNX file at ``path`` (rewritten through a temporary
    file), after checking the new file on real photos and odd-sized synthetic images against the
    file as it was run through edgecv's deploy pipeline: the same top-1 and probabilities within
    ``atol``; otherwise ``CheckFailed`` and the file is left as it was.  Returns the check."""
    from pathlib import Path

    import onnx

    from edgecv.assets import sample_photos
    from edgecv.errors import CheckFailed
    from edgecv.fileio import atomic_write
    from edgecv.runtimes import load
    from edgecv.runtimes.backends.onnxrt import ort_session
    from edgecv.runtimes.pipeline.classify import probabilities
    from edgecv.runtimes.pipeline.images import DecodeOptions, read_image
    from edgecv.runtimes.pipeline.preprocess import Preprocessor
    from edgecv.spec import METADATA_KEY

    path = Path(path)
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in props:
        raise EdgecvError(f"{path.name} carries no edgecv spec", "export it with `edgecv export` first")
    spec = ModelSpec.from_json(props[METADATA_KEY])
    if takes_raw_images(spec):
        raise EdgecvError(f"{path.name} already takes raw images")
    merged = embed(proto, spec, upgrade)
    rng = np.random.default_rng(0)
    images = [read_image(p, DecodeOptions.for_spec(spec)) for p in sample_photos()]
    sizes = ((97, 131), (260, 211), (301, 300), (9, 40), (33, 7))  # the last two pad for most specs
    images += [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    pre = Preprocessor(spec)
    with load(path, "onnxruntime", providers=["cpu"]) as rt:
        want = [probabilities(rt.infer(pre(im)[None]), spec)[0] for im in images]
    sess = ort_session(merged.SerializeToString())
    got = [probabilities(sess.run(None, {IMAGE: im[None]})[0], spec)[0] for im in images]
    worst = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
    same = all(int(g.argmax()) == int(w.argmax()) for g, w in zip(got, want))
    check = {"images": len(images), "max_prob_diff": worst, "top1_equal": bool(same)}
    if not same or worst > atol:
        raise CheckFailed(f"the file with its preprocessing embedded differs from edgecv's deploy pipeline on "
                          f"{len(images)} images (max probability difference {worst:.2g}, top-1 "
                          f"{'equal' if same else 'differs'}); {path.name} was left as it was", "report it")
    spec.extra = {**spec.extra, EMBEDDED_KEY: {"input": "uint8 (N, H, W, 3) RGB, any size", **check}}
    onnx.helper.set_model_props(merged, {**props, METADATA_KEY: spec.to_json()})
    atomic_write(path, lambda tmp: onnx.save(merged, tmp))
    say(f"  preprocessing embedded: input `{IMAGE}` uint8 (N, H, W, 3) RGB, any size; on {len(images)} images "
        f"the same top-1 as edgecv's pipeline, probabilities within {worst:.1g}")
    return check
