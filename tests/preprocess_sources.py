"""The preprocessing pipelines edgecv claims to reproduce, each next to the ModelSpec edgecv reads from
it, and a generator of hostile images: the differential fuzzer's material (tests/test_preprocess_fuzz.py
runs a slice, benchmarks/preprocess_fuzz.py the whole sweep).

A source is ``(name, build(rng) -> (spec, pipeline))``: ``pipeline(pil_image)`` is the source's own
tensor (C, H, W) for an image as the user's loader opens it (``Image.open(f).convert("RGB")``), and
``spec`` is what edgecv reads from that same source (``ModelSpec.from_transforms`` for torchvision,
timm's pretrained_cfg for timm, the processor for Hugging Face).
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from edgecv.spec import ModelSpec

INTERPS = ("bilinear", "bicubic", "nearest")


def _pillow(spec: ModelSpec) -> ModelSpec:
    """The spec as edgecv's loaders finish it: the resampling pass order of the Pillow installed here."""
    from edgecv.loaders.pipelines import installed_resampler

    spec.resampler = installed_resampler()
    return spec


def _crop_and_resize(rng):
    crop = int(rng.integers(8, 72))
    return crop, crop + int(rng.integers(0, 40))


# -- torchvision ------------------------------------------------------------------------------------

def torchvision_v1(rng, grey=False):
    from torchvision import transforms as T

    crop, resize = _crop_and_resize(rng)
    interp = INTERPS[int(rng.integers(0, 3))]
    size = resize if rng.random() < 0.7 else (resize, resize + int(rng.integers(-5, 6)))
    mode = getattr(T.InterpolationMode, interp.upper())
    steps = [T.Resize(size, interpolation=mode), T.CenterCrop(crop)]
    steps = ([T.Grayscale(1)] if grey else []) + steps + [T.ToTensor()]
    steps.append(T.Normalize([0.5] if grey else [0.485, 0.456, 0.406], [0.25] if grey else [0.229, 0.224, 0.225]))
    compose = T.Compose(steps)
    return _pillow(ModelSpec.from_transforms(compose, num_classes=2)), lambda im: compose(im).numpy()


def torchvision_v2(rng, on_tensors=False):
    import torch
    from torchvision.transforms import v2

    crop, resize = _crop_and_resize(rng)
    interp = INTERPS[int(rng.integers(0, 2))]  # v2 on tensors: nearest is not antialiased anywhere
    mode = getattr(v2.InterpolationMode, interp.upper())
    compose = v2.Compose([v2.Resize(resize, interpolation=mode, antialias=True), v2.CenterCrop(crop), v2.ToImage(),
                          v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5, 0.4, 0.3], [0.2, 0.25, 0.3])])
    spec = ModelSpec.from_transforms(compose, num_classes=2)
    if on_tensors:
        spec.resampler = "torch"  # the image as a uint8 tensor (torchvision.io.decode_image's output): torch's resize,
        # horizontal pass first
        return spec, lambda im: compose(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)).numpy()
    return _pillow(spec), lambda im: compose(im).numpy()  # PIL images: Pillow's resize


# -- timm -------------------------------------------------------------------------------------------

def timm_eval(rng, crop_mode="center"):
    from timm.data import create_transform
    from timm.models import PretrainedCfg

    from edgecv.models.timm_models import timm_spec_fields

    crop = int(rng.integers(16, 80))
    cfg = PretrainedCfg(input_size=(3, crop, crop), crop_pct=float(rng.choice([0.875, 0.9, 0.95, 1.0])),
                        crop_mode=crop_mode, interpolation=str(rng.choice(["bilinear", "bicubic"])),
                        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    tf = create_transform(input_size=cfg.input_size, crop_pct=cfg.crop_pct, crop_mode=crop_mode,
                          interpolation=cfg.interpolation, mean=cfg.mean, std=cfg.std, is_training=False)
    return _pillow(ModelSpec(arch="t", num_classes=2, **timm_spec_fields(cfg))), lambda im: tf(im).numpy()


# -- Hugging Face -----------------------------------------------------------------------------------

def hf_processor(rng, kind: str, backend: str):
    import transformers as T

    from edgecv.loaders.sources.hf_processor import pipeline, spec_fields

    crop = int(rng.integers(16, 80))
    pad = int(rng.integers(0, 24))
    sq = {"height": crop, "width": crop}
    make = {
        "ViT": lambda: T.ViTImageProcessor(size=sq),  # Swin and most ViT-like models use it too
        "DeiT": lambda: T.DeiTImageProcessor(size={"height": crop + pad, "width": crop + pad}, crop_size=sq),
        "BEiT": lambda: T.BeitImageProcessor(size=sq),
        "ConvNext": lambda: T.ConvNextImageProcessor(size={"shortest_edge": crop}, crop_pct=0.875),
        "EfficientNet": lambda: T.EfficientNetImageProcessor(size={"height": crop + pad, "width": crop + pad},
                                                             crop_size=sq, do_center_crop=True,
                                                             rescale_offset=bool(rng.random() < 0.5)),
        "MobileViT": lambda: T.MobileViTImageProcessor(size={"shortest_edge": crop + pad}, crop_size=sq),
        "Levit": lambda: T.LevitImageProcessor(size={"shortest_edge": crop}, crop_size=sq),
        "PoolFormer": lambda: T.PoolFormerImageProcessor(size={"shortest_edge": crop}, crop_size=sq),
        "Bit": lambda: T.BitImageProcessor(size={"shortest_edge": crop + pad}, crop_size=sq),
        "CLIP": lambda: T.CLIPImageProcessor(size={"shortest_edge": crop + pad}, crop_size=sq),
        "MobileNetV2": lambda: T.MobileNetV2ImageProcessor(size={"shortest_edge": crop + pad}, crop_size=sq),
    }[kind]
    proc = make()
    if backend == "pil":
        proc = getattr(T, f"{type(proc).__name__}Pil")(**proc.to_dict())
    fields = spec_fields(proc)
    return ModelSpec(arch="hf", num_classes=2, **fields), pipeline(proc)  # spec_fields sets the pass order


HF_KINDS = ("ViT", "DeiT", "BEiT", "ConvNext", "EfficientNet", "MobileViT", "Levit", "PoolFormer", "Bit", "CLIP",
            "MobileNetV2")

SOURCES = {
    "torchvision v1 (PIL)": torchvision_v1,
    "torchvision v1 Grayscale (PIL)": lambda rng: torchvision_v1(rng, grey=True),
    "torchvision v2 (PIL)": torchvision_v2,
    "torchvision v2 (uint8 tensors)": lambda rng: torchvision_v2(rng, on_tensors=True),
    "timm eval, crop_mode center": timm_eval,
    "timm eval, crop_mode squash": lambda rng: timm_eval(rng, "squash"),
    **{f"HF {k}ImageProcessor ({b})": (lambda rng, k=k, b=b: hf_processor(rng, k, b))
       for k in HF_KINDS for b in ("torchvision", "pil")},
}


# -- images -----------------------------------------------------------------------------------------

MODES = ("RGB", "L", "RGBA", "P", "I;16", "RGB+EXIF", "RGB JPEG")


def photo_like(rng, h: int, w: int) -> np.ndarray:
    """Smooth gradients, shapes and texture: (h, w, 3) uint8 with edges where resampling matters."""
    from PIL import ImageDraw, ImageFilter

    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx ^ yy) & 255], 2)
    im = Image.fromarray(np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(4):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        draw.rectangle((x0, y0, x0 + int(rng.integers(1, w + 1)), y0 + int(rng.integers(1, h + 1))),
                       fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return np.asarray(im.filter(ImageFilter.SMOOTH_MORE) if rng.random() < 0.5 else im)


def random_size(rng, crop: int) -> tuple[int, int]:
    """Around the crop (odd and even margins), smaller than it, or much larger; portrait or landscape."""
    kind = rng.random()
    if kind < 0.15:
        return int(rng.integers(1, max(crop, 2))), int(rng.integers(1, max(crop, 2)))  # smaller than the crop
    if kind < 0.8:
        return int(crop + rng.integers(0, 3 * crop)), int(crop + rng.integers(0, 3 * crop))
    return int(rng.integers(crop, 1200)), int(rng.integers(crop, 1200))


def encoded_image(rng, h: int, w: int, mode: str) -> bytes:
    """A file as a user has it: PNG in several modes, or JPEG, maybe with an EXIF orientation tag."""
    rgb = photo_like(rng, h, w)
    im = Image.fromarray(rgb)
    buf = io.BytesIO()
    if mode == "I;16":
        grey = (rgb.astype(np.uint32).sum(2) * 85).astype(np.uint16)  # 0..65025: PIL clips to 255 when converting
        Image.fromarray(grey).save(buf, format="PNG")
    elif mode == "RGB+EXIF":
        exif = Image.Exif()
        exif[0x0112] = int(rng.integers(2, 9))  # an orientation the training loader ignores
        im.save(buf, format="PNG", exif=exif)
    elif mode == "RGB JPEG":
        im.save(buf, format="JPEG", quality=90)
    elif mode == "P":
        im.quantize(64).save(buf, format="PNG")
    else:
        im.convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def grey_levels(theirs: np.ndarray, ours: np.ndarray, spec: ModelSpec) -> float:
    std = np.asarray(spec.std, np.float64).reshape(-1, 1, 1)
    return float((np.abs(theirs.astype(np.float64) - ours) * std * 255).max())


def compare(spec: ModelSpec, pipeline, data: bytes) -> float:
    """Max difference in grey levels between the source (PIL's decode, ``convert("RGB")``) and edgecv's
    deploy side (OpenCV's decode, ``Preprocessor``) on one encoded image; inf when shapes differ."""
    from edgecv.runtimes.pipeline.images import DecodeOptions, decode
    from edgecv.runtimes.pipeline.preprocess import Preprocessor

    theirs = np.asarray(pipeline(Image.open(io.BytesIO(data)).convert("RGB")), np.float32)
    ours = Preprocessor(spec)(decode(data, "fuzz", DecodeOptions.for_spec(spec, None)))
    return float("inf") if theirs.shape != ours.shape else grey_levels(theirs, ours, spec)
