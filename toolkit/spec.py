"""ModelSpec: everything a runtime needs to classify an image correctly, as plain data.

It travels inside every checkpoint, in the ONNX ``metadata_props`` and in the JSON sidecar
next to a TensorRT engine.  No torch here.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from edgecv.errors import EdgecvError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
CHANNEL_ORDERS = ("RGB", "BGR", "GRAY")
HIGH_BIT_DEPTHS = ("pil", "scale")  # > 8-bit images: as PIL's convert("RGB"), or scaled v / 257
METADATA_KEY = "edgecv.spec"


@dataclass
class ModelSpec:
    """Preprocessing and label facts of one classifier.

    The pipeline it describes is torchvision's classic one, in this order: decode, convert to
    ``channel_order``, resize so the shorter side is ``resize`` (``None``: resize straight to
    ``input_size``), centre-crop to ``input_size``, scale to [0, 1], subtract ``mean``, divide by
    ``std``, lay out as ``layout`` (NCHW).  How the training loader decoded files is part of it:
    ``exif_transpose`` (torchvision's default loader does not apply EXIF orientation;
    ``ImageOps.exif_transpose`` does) and ``high_bit_depth`` (see ``HIGH_BIT_DEPTHS``).
    """

    arch: str
    num_classes: int
    input_size: tuple[int, int] = (224, 224)  # (H, W) fed to the network
    resize: int | None = 256
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channel_order: str = "RGB"
    layout: str = "NCHW"
    exif_transpose: bool = False
    high_bit_depth: str = "pil"
    labels: list[str] = field(default_factory=list)
    model_kwargs: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # provenance: edgecv version, sha256, export options

    def __post_init__(self):
        self.input_size = tuple(int(v) for v in self.input_size)
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        self.num_classes = int(self.num_classes)
        if self.resize is not None:
            self.resize = int(self.resize)
        if len(self.input_size) != 2 or min(self.input_size) <= 0:
            raise EdgecvError(f"spec input_size must be (H, W) > 0, got {self.input_size}")
        if self.interpolation not in INTERPOLATIONS:
            raise EdgecvError(f"spec interpolation {self.interpolation!r} is not one of {INTERPOLATIONS}")
        if self.channel_order not in CHANNEL_ORDERS:
            raise EdgecvError(f"spec channel_order {self.channel_order!r} is not one of {CHANNEL_ORDERS}")
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

    @property
    def channels(self) -> int:
        return 1 if self.channel_order == "GRAY" else 3

    def label(self, index: int) -> str:
        return self.labels[index] if index < len(self.labels) else str(index)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in d.items() if k in known})
        except TypeError as e:
            raise EdgecvError(f"model spec is incomplete: {e}") from None

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise EdgecvError(f"model spec is not valid JSON: {e}") from None
