"""``ModelSpec.from_transforms``: read a torchvision eval ``Compose`` into spec fields (torch-free:
transforms are recognised by class name and attributes, v1 and v2 alike).

Only what the deploy pipeline reproduces is accepted; anything else is refused by name, so a spec
never silently differs from the user's transforms.
"""
from __future__ import annotations

_TENSOR = {"ToTensor", "PILToTensor", "ToImage", "ToImageTensor", "ConvertImageDtype", "ToDtype"}
_AUGMENT_PREFIXES = ("Random", "ColorJitter", "AutoAugment", "TrivialAugment", "AugMix", "RandAugment",
                     "GaussianBlur", "ElasticTransform")


def _flatten(t):
    inner = getattr(t, "transforms", None)
    if type(t).__name__ == "Compose" and inner is not None:
        for x in inner:
            yield from _flatten(x)
    else:
        yield t


def _interp(t) -> str:
    mode = getattr(t, "interpolation", "bilinear")
    value = getattr(mode, "value", mode)
    pil = {0: "nearest", 2: "bilinear", 3: "bicubic"}
    name = pil.get(value, value) if isinstance(value, int) else str(value).lower()
    return name


def _pair(size):
    if isinstance(size, int):
        return size, size
    size = list(size)
    return (size[0], size[0]) if len(size) == 1 else (size[0], size[1])


def fields_from_transforms(compose) -> dict:
    """Spec fields (and nothing else) for an eval ``Compose``; ``EdgecvError`` names what cannot be
    represented."""
    from edgecv.errors import EdgecvError
    from edgecv.spec import INTERPOLATIONS

    def refuse(t, why):
        raise EdgecvError(f"{type(t).__name__} cannot be represented in a ModelSpec: {why}",
                          "pass the eval transforms, or state the spec field by field")

    out: dict = {"channel_order": "RGB", "mean": None, "std": None}
    resize = crop = None
    scaled = False
    for t in _flatten(compose):
        name = type(t).__name__
        if name.startswith(_AUGMENT_PREFIXES):
            refuse(t, "it is a training augmentation (random)")
        if name == "Resize":
            if resize is not None:
                refuse(t, "a second Resize")
            if getattr(t, "max_size", None) is not None:
                refuse(t, "max_size is not supported")
            if getattr(t, "antialias", True) is False:
                refuse(t, "antialias=False differs from PIL's resize")
            interp = _interp(t)
            if interp not in INTERPOLATIONS:
                refuse(t, f"interpolation {interp!r} is not one of {INTERPOLATIONS}")
            out["interpolation"] = interp
            size = t.size
            resize = size if isinstance(size, int) else (size[0] if len(size) == 1 else _pair(size))
        elif name == "CenterCrop":
            crop = _pair(t.size)
        elif name == "Grayscale":
            if getattr(t, "num_output_channels", 1) != 1:
                refuse(t, "grey replicated to 3 channels; use Grayscale(1)")
            out["channel_order"] = "GRAY"
        elif name in _TENSOR:
            if name == "ToDtype" and getattr(t, "scale", False) is False:
                refuse(t, "ToDtype without scale=True keeps 0..255")
            scaled = scaled or name in ("ToTensor", "ConvertImageDtype", "ToDtype")
        elif name == "Normalize":
            out["mean"], out["std"] = tuple(t.mean), tuple(t.std)
        else:
            refuse(t, "edgecv knows Resize, CenterCrop, Grayscale, ToTensor, Normalize (and their v2 forms)")
    if not scaled:
        raise EdgecvError("the transforms never scale pixels to [0, 1] (no ToTensor)",
                          "edgecv's pipeline is ToTensor-based; add ToTensor() to the transforms")
    if resize is None:
        raise EdgecvError("the transforms have no Resize: the input size would depend on each image",
                          "add Resize(...) as in training, or state --resize and --imgsz")
    if crop is None:
        if isinstance(resize, int):
            raise EdgecvError(f"Resize({resize}) without CenterCrop gives an aspect-dependent size",
                              "add CenterCrop, or Resize((H, W))")
        out["input_size"], out["resize"] = resize, resize
    else:
        out["input_size"], out["resize"] = crop, resize
    c = 1 if out["channel_order"] == "GRAY" else 3
    if out["mean"] is None:
        out["mean"], out["std"] = (0.0,) * c, (1.0,) * c
    elif len(out["mean"]) == 1 and c == 3:
        out["mean"], out["std"] = out["mean"] * 3, out["std"] * 3
    return out
