"""ModelSpec: everything a runtime needs to classify an image correctly, as plain data.

It travels inside every checkpoint, in the ONNX ``metadata_props`` and in the JSON sidecar
next to a TensorRT engine.  No torch here.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields

from edgecv.errors import EdgecvError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
CHANNEL_ORDERS = ("RGB", "BGR", "GRAY")
HIGH_BIT_DEPTHS = ("pil", "scale")  # > 8-bit images: as PIL's convert("RGB"), or scaled v / 257
# The centre crop's offset: torchvision's CenterCrop rounds (h - crop) / 2, Hugging Face's processors
# floor it; an odd margin puts the two one pixel apart.
CROP_RULES = ("round", "floor")
# Where an image smaller than the crop sits once padded with zeros: torchvision (and Hugging Face's
# torchvision backend) put the odd pixel of padding after it, Hugging Face's PIL backend before it.
PAD_RULES = ("floor", "ceil")
# Which side ``resize`` sets: torchvision's Resize(int) sets the shorter one and crops; timm's "border"
# crop mode (``ResizeKeepRatio(longest=1)``, then ``CenterCropOrPad`` with the mean colour) fits the
# longer one into the box and pads: a letterbox.  ``pad_fill``: the padding's grey level per channel.
RESIZE_EDGES = ("shorter", "longer")
# The resampler the model's pipeline resizes with, as its rounding differs (up to a dozen grey levels on
# bicubic warps): Pillow <= 12 resamples horizontally first; Pillow 13 vertically first when the height
# shrinks by more than twice as many pixels as the width; torch's antialiased uint8 kernel (Hugging
# Face's torchvision backend, torchvision v2 on tensors) horizontally first with int16 weights.  Set
# from the source (its backend) or the Pillow of the build environment at export.
RESAMPLERS = ("pillow12", "pillow13", "torch")
SCORES = ("logits", "probabilities", "log_probabilities")  # what the network's output already is
# Where a spec field's value came from (``ModelSpec.provenance``): the user said it, the model's own
# config / checkpoint said it, edgecv worked it out from the weights or a probe run, or a default.
PROVENANCES = ("stated", "model", "inferred", "assumed")
PREPROCESSING_FIELDS = ("input_size", "resize", "interpolation", "mean", "std", "channel_order", "crop_rule",
                        "pad_rule")
METADATA_KEY = "edgecv.spec"
MAX_SIDE = 16384  # pixels a side of an input or resize: larger is a broken or hostile spec
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # newlines, tabs, escapes, line separators


def scale_resize(resize, old_size, new_size):
    """``resize`` for a new crop / input size, keeping the resize : crop ratio (int: shorter side,
    (H, W): per axis, None: straight to the input)."""
    if resize is None:
        return None
    if isinstance(resize, (tuple, list)):
        return tuple(int(round(r * n / o)) for r, n, o in zip(resize, new_size, old_size))
    return int(round(resize * min(new_size) / min(old_size)))


def per_channel(values, channel_order: str) -> tuple[float, ...]:
    """Mean / std values for ``channel_order``: averaged to one for GRAY, repeated to three for
    colour when one was given."""
    values = tuple(values)
    if channel_order == "GRAY":
        return (sum(values) / len(values),)
    return values * 3 if len(values) == 1 else values


def show_value(v) -> str:
    """A spec value for messages: ``224x224``, ``0.485x0.456x0.406``, ``bilinear``."""
    if isinstance(v, tuple):
        return "x".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
    return str(v)


@dataclass
class ModelSpec:
    """Preprocessing and label facts of one classifier.

    The pipeline it describes is torchvision's classic one, in this order: decode, convert to
    ``channel_order``, resize so the shorter side is ``resize`` (the longer one truncated to an
    integer, as torchvision and Hugging Face both do; ``None``: resize straight to ``input_size``),
    centre-crop to ``input_size`` (its offset rounded or floored by ``crop_rule``; an image smaller
    than the crop is zero-padded first, the odd pixel placed by ``pad_rule``), scale to [0, 1],
    subtract ``mean``, divide by ``std``, lay out as ``layout`` (NCHW).  ``resize_edge="longer"`` makes
    it a letterbox instead (timm's "border" mode): the image scaled to fit inside ``resize`` (an int:
    a square box), each side rounded, then padded with ``pad_fill`` to the crop.
    How the training loader decoded files is part of it:
    ``exif_transpose`` (torchvision's default loader does not apply EXIF orientation;
    ``ImageOps.exif_transpose`` does) and ``high_bit_depth`` (see ``HIGH_BIT_DEPTHS``).
    ``scores`` says whether the output is logits (softmax applies) or already (log-)probabilities;
    ``provenance`` maps field names to one of ``PROVENANCES``.
    """

    arch: str
    num_classes: int
    input_size: tuple[int, int] = (224, 224)  # (H, W) fed to the network
    resize: int | tuple[int, int] | None = 256
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channel_order: str = "RGB"
    layout: str = "NCHW"
    exif_transpose: bool = False
    high_bit_depth: str = "pil"
    crop_rule: str = "round"
    pad_rule: str = "floor"
    resize_edge: str = "shorter"
    pad_fill: tuple[int, ...] = ()  # grey levels, in channel_order; () pads with 0
    resampler: str = "pillow12"
    labels: list[str] = field(default_factory=list)
    scores: str = "logits"
    provenance: dict = field(default_factory=dict)
    model_kwargs: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # provenance: edgecv version, sha256, export options

    def __post_init__(self):
        self._coerce()
        if not self.arch or _CONTROL.search(self.arch):
            raise EdgecvError(f"spec arch {self.arch!r} is empty or holds control characters")
        if self.num_classes < 1:
            raise EdgecvError(f"spec num_classes must be >= 1, got {self.num_classes}")
        if not all(math.isfinite(v) for v in self.mean + self.std):
            raise EdgecvError(f"spec mean/std must be finite numbers, got mean {self.mean}, std {self.std}")
        if min(self.std, default=1.0) <= 0:
            raise EdgecvError(f"spec std must be > 0 (it divides), got {self.std}")
        if max(self.input_size, default=0) > MAX_SIDE:
            raise EdgecvError(f"spec input_size {self.input_size} is over {MAX_SIDE} pixels a side")
        bad = [i for i, lab in enumerate(self.labels) if not isinstance(lab, str) or _CONTROL.search(lab)]
        if bad:
            raise EdgecvError(f"spec label {bad[0]} ({self.labels[bad[0]]!r}) is not text without control characters "
                              "(a newline would shift every label after it in a labels file)")

        sides = self.resize if isinstance(self.resize, tuple) else (self.resize,)
        if self.resize is not None and (min(sides) <= 0 or max(sides) > MAX_SIDE):
            raise EdgecvError(f"spec resize must be 1..{MAX_SIDE}, got {self.resize}")
        if self.scores not in SCORES:
            raise EdgecvError(f"spec scores {self.scores!r} is not one of {SCORES}")
        bad = {k: v for k, v in self.provenance.items() if v not in PROVENANCES}
        if bad:
            raise EdgecvError(f"spec provenance {bad} is not one of {PROVENANCES}")
        if len(self.input_size) != 2 or min(self.input_size) <= 0:
            raise EdgecvError(f"spec input_size must be (H, W) > 0, got {self.input_size}")
        if self.interpolation not in INTERPOLATIONS:
            raise EdgecvError(f"spec interpolation {self.interpolation!r} is not one of {INTERPOLATIONS}")
        if self.channel_order not in CHANNEL_ORDERS:
            raise EdgecvError(f"spec channel_order {self.channel_order!r} is not one of {CHANNEL_ORDERS}")
        if self.crop_rule not in CROP_RULES:
            raise EdgecvError(f"spec crop_rule {self.crop_rule!r} is not one of {CROP_RULES}")
        if self.resampler not in RESAMPLERS:
            raise EdgecvError(f"spec resampler {self.resampler!r} is not one of {RESAMPLERS}")
        if self.pad_rule not in PAD_RULES:
            raise EdgecvError(f"spec pad_rule {self.pad_rule!r} is not one of {PAD_RULES}")
        if self.resize_edge not in RESIZE_EDGES:
            raise EdgecvError(f"spec resize_edge {self.resize_edge!r} is not one of {RESIZE_EDGES}")
        if self.pad_fill and (len(self.pad_fill) != self.channels or not all(0 <= v <= 255 for v in self.pad_fill)):
            raise EdgecvError(f"spec pad_fill must be {self.channels} grey levels 0..255 for {self.channel_order} "
                              f"(or empty), got {self.pad_fill}")
        if self.high_bit_depth not in HIGH_BIT_DEPTHS:
            raise EdgecvError(f"spec high_bit_depth {self.high_bit_depth!r} is not one of {HIGH_BIT_DEPTHS}")
        self.exif_transpose = bool(self.exif_transpose)
        if self.layout != "NCHW":
            raise EdgecvError(f"spec layout {self.layout!r} is not supported; use NCHW")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise EdgecvError(
                f"spec mean/std need {self.channels} values for {self.channel_order}, "
                f"got {len(self.mean)}/{len(self.std)}")
        if self.labels and len(self.labels) != self.num_classes:
            raise EdgecvError(f"spec has {len(self.labels)} labels for {self.num_classes} classes")

    def _coerce(self):
        """Numbers and tuples from JSON, or one line naming the field that is not one."""
        def field_error(name, value, want):
            return EdgecvError(f"spec {name} must be {want}, got {value!r}"[:300])

        try:
            self.input_size = tuple(int(v) for v in self.input_size)
        except (TypeError, ValueError):
            raise field_error("input_size", self.input_size, "(H, W) integers") from None
        for name in ("mean", "std"):
            try:
                setattr(self, name, tuple(float(v) for v in getattr(self, name)))
            except (TypeError, ValueError):
                raise field_error(name, getattr(self, name), "a list of numbers") from None
        try:
            self.pad_fill = tuple(int(v) for v in self.pad_fill)
        except (TypeError, ValueError):
            raise field_error("pad_fill", self.pad_fill, "a list of grey levels") from None
        try:
            self.num_classes = int(self.num_classes)
        except (TypeError, ValueError):
            raise field_error("num_classes", self.num_classes, "an integer") from None
        if isinstance(self.resize, (list, tuple)):
            try:
                self.resize = tuple(int(v) for v in self.resize)
            except (TypeError, ValueError):
                raise field_error("resize", self.resize, "N or (H, W) integers") from None
            if len(self.resize) == 1:
                self.resize = self.resize[0]
            elif len(self.resize) != 2:
                raise field_error("resize", self.resize, "N or (H, W)")
        elif self.resize is not None:
            try:
                self.resize = int(self.resize)
            except (TypeError, ValueError):
                raise field_error("resize", self.resize, "an integer, (H, W) or null") from None
        for name, kind in (("arch", str), ("labels", list), ("provenance", dict), ("model_kwargs", dict),
                           ("extra", dict), ("interpolation", str), ("channel_order", str), ("scores", str),
                           ("layout", str), ("high_bit_depth", str), ("crop_rule", str), ("pad_rule", str),
                           ("resampler", str), ("resize_edge", str)):
            value = getattr(self, name)
            if name == "labels" and isinstance(value, tuple):
                self.labels = value = list(value)
            if not isinstance(value, kind):
                raise field_error(name, value, f"a {'list' if kind is list else kind.__name__}")

    @property
    def channels(self) -> int:
        return 1 if self.channel_order == "GRAY" else 3

    def fill_in(self, order: str) -> tuple[int, ...]:
        """``pad_fill`` for an image whose channels are in ``order`` (RGB or BGR) before they are put in
        ``channel_order``: reversed when the two orders differ."""
        swap = self.pad_fill and self.channel_order != "GRAY" and self.channel_order != order
        return self.pad_fill[::-1] if swap else self.pad_fill

    def assumed(self, names=PREPROCESSING_FIELDS) -> list[str]:
        """The fields among ``names`` nobody stated, read or inferred: defaults edgecv assumed."""
        return [n for n in names if self.provenance.get(n) == "assumed"]

    def describe_sources(self, names=PREPROCESSING_FIELDS) -> str:
        """``input_size 48x48 (inferred), resize 55 (assumed), ...``: each value with its source."""
        return ", ".join(f"{n} {show_value(getattr(self, n))} ({self.provenance.get(n, 'unrecorded')})"
                         for n in names)

    def label(self, index: int) -> str:
        return self.labels[index] if index < len(self.labels) else str(index)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        d["pad_fill"] = list(self.pad_fill)
        if isinstance(self.resize, tuple):
            d["resize"] = list(self.resize)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        if not isinstance(d, dict):
            raise EdgecvError(f"model spec must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in d.items() if k in known})
        except TypeError as e:
            raise EdgecvError(f"model spec is incomplete: {e}") from None

    @classmethod
    def from_transforms(cls, compose, *, arch: str = "custom", num_classes: int, labels=(), **fields_) -> "ModelSpec":
        """The spec of a torchvision eval ``Compose`` (Resize, CenterCrop, Grayscale, ToTensor,
        Normalize, ...); a transform it cannot represent is refused by name."""
        from edgecv.spec_transforms import fields_from_transforms

        read = fields_from_transforms(compose)
        prov = {k: "stated" for k in read}
        return cls(arch=arch, num_classes=num_classes, labels=list(labels), provenance=prov, **read, **fields_)

    def with_saved_provenance(self) -> "ModelSpec":
        """A spec saved with the model (checkpoint, archive): the fields it records no source for
        came from the model itself.  Returns ``self``."""
        self.provenance = {**{f: "model" for f in (*PREPROCESSING_FIELDS, "num_classes", "labels")},
                           **self.provenance}
        return self

    def stated_fields(self) -> dict:
        """The fields the user stated, as ``with_stated`` / ``ExportOptions(stated=...)`` take them."""
        return {k: getattr(self, k) for k, v in self.provenance.items() if v == "stated" and hasattr(self, k)}

    def with_stated(self, **values) -> "ModelSpec":
        """A copy with these fields set by the user (validated, provenance ``stated``); ``None``
        values are ignored."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return ModelSpec.from_dict(self.to_dict())
        unknown = set(values) - {f.name for f in fields(self)}
        if unknown:
            raise EdgecvError(f"not spec fields: {sorted(unknown)}")
        d = self.to_dict()
        d.update(values)
        d["provenance"] = {**self.provenance, **{k: "stated" for k in values}}
        return ModelSpec.from_dict(d)

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise EdgecvError(f"model spec is not valid JSON: {e}") from None
