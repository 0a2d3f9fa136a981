"""A Hugging Face image processor as it runs, read into ModelSpec fields (build side).

The processor is built the way the user's code builds it (``AutoImageProcessor.from_pretrained`` on
the directory: the class the config names, its backend, its own defaults for keys the file leaves out)
and its resolved attributes are read, never the JSON with generic defaults: MobileViT's processor
flips to BGR and does not normalise unless told to, whatever a generic reader assumes.

Geometry per processor family (both backends share it; only where a too-small image sits after
padding differs, see ``ModelSpec.pad_rule``):

- base (ViT, DeiT, BiT, CLIP, Swin, MobileNet, PVT, SigLIP, ...): ``size`` {height, width} resizes to
  exactly that, {shortest_edge} resizes the shorter side (the longer truncated); then ``crop_size``
  if ``do_center_crop``, its offset floored.
- ConvNeXt (also ResNet, RegNet, CvT): shortest_edge < 384 resizes the shorter side to
  int(shortest_edge / crop_pct) and crops shortest_edge; >= 384 warps to a square.
- LeViT: the shorter side goes to int(256 / 224 * shortest_edge).
- PoolFormer: shorter side int(size / crop_pct) (a non-square height/width warps to each / crop_pct).
- EfficientNet: ``rescale_offset`` maps to [-1, 1], ``include_top`` divides by std once more: both
  are the affine map mean/std express.
- MobileViT: ``do_flip_channel_order`` feeds BGR.

A step edgecv does not reproduce is refused by name (``do_color_quantize``, ``do_pad`` to a size, a
``longest_edge`` limit, a resample other than nearest / bilinear / bicubic).  Whatever is read, the
export's preprocessing self-check then runs this very processor against edgecv's deploy side.
"""
from __future__ import annotations

from edgecv.errors import EdgecvError

_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}  # PIL.Image.Resampling values
_IGNORED = {"do_reduce_labels", "do_convert_rgb"}  # labels of segmentation maps; RGB is what edgecv decodes
_KNOWN = {"do_resize", "do_center_crop", "do_rescale", "do_normalize", "do_flip_channel_order", "do_pad"} | _IGNORED


def load_processor(path, backend: str | None = None):
    """The processor ``AutoImageProcessor`` gives for a directory, offline (no remote code)."""
    try:
        from transformers import AutoImageProcessor
    except ImportError:
        raise EdgecvError(f"{path} is a Hugging Face directory and needs transformers",
                          "install the extra: pip install 'edgecv[hf]'") from None
    kwargs = {"backend": backend} if backend else {}
    try:
        return AutoImageProcessor.from_pretrained(str(path), local_files_only=True, trust_remote_code=False,
                                                  **kwargs)
    except Exception as e:  # noqa: BLE001 - OSError / ValueError / KeyError for broken or unknown configs
        raise EdgecvError(f"{path}: its image processor does not load "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})") from None


def _get(proc, name, default=None):
    value = getattr(proc, name, default)
    return default if value is None else value


def _size(sd) -> dict:
    """A processor's ``size`` / ``crop_size`` (SizeDict, dict or int) as a plain dict of what is set."""
    if sd is None:
        return {}
    if isinstance(sd, int):
        return {"shortest_edge": sd}
    keys = ("height", "width", "shortest_edge", "longest_edge", "max_height", "max_width")
    get = sd.get if isinstance(sd, dict) else (lambda k: getattr(sd, k, None))
    return {k: int(get(k)) for k in keys if get(k) is not None}


def spec_fields(proc) -> dict:
    """ModelSpec fields (and ``channel_order``) of a processor; one-line refusals for what edgecv's
    deploy side does not reproduce."""
    kind = type(proc).__name__
    family = kind.removesuffix("Pil").removesuffix("ImageProcessor").removesuffix("Fast")
    flags = {k: getattr(proc, k) for k in dir(proc) if k.startswith("do_") and not callable(getattr(proc, k))}
    unknown = sorted(k for k, v in flags.items() if v and k not in _KNOWN)
    if unknown:
        raise EdgecvError(f"{kind} applies {', '.join(unknown)}, which edgecv's deploy side does not reproduce",
                          "export from a processor without it, or state every preprocessing option and pass "
                          "--allow-preprocessing-mismatch")
    if flags.get("do_pad") and getattr(proc, "pad_size", None):
        raise EdgecvError(f"{kind} pads every image to {proc.pad_size}, which edgecv does not reproduce")
    if not _get(proc, "do_resize", False):
        raise EdgecvError(f"{kind} does not resize: the input size would follow each image",
                          "state --resize and --imgsz")
    resample = _get(proc, "resample", 2)
    resample = int(getattr(resample, "value", resample))
    if resample not in _RESAMPLE:
        raise EdgecvError(f"{kind} resamples with PIL filter {resample}; edgecv reproduces nearest / bilinear / bicubic",
                          "state --interpolation to accept the closest one, with --allow-preprocessing-mismatch")
    size = _size(getattr(proc, "size", None))
    if "longest_edge" in size or "max_height" in size:
        raise EdgecvError(f"{kind} limits the longest edge ({size}), which edgecv does not reproduce")
    crop = _size(getattr(proc, "crop_size", None)) if _get(proc, "do_center_crop", False) else {}
    crop_hw = (crop["height"], crop["width"]) if "height" in crop else None
    crop_pct = getattr(proc, "crop_pct", None)
    if family == "ConvNext" and "shortest_edge" in size:
        s = size["shortest_edge"]
        resize, crop_hw = (int(s / crop_pct), (s, s)) if s < 384 else ((s, s), None)
    elif family == "Levit" and "shortest_edge" in size:
        resize = int((256 / 224) * size["shortest_edge"])
    elif family == "PoolFormer" and crop_pct:
        if "shortest_edge" in size:
            resize = int(size["shortest_edge"] / crop_pct)
        elif size.get("height") == size.get("width"):
            resize = int(size["height"] / crop_pct)
        else:
            resize = (int(size["height"] / crop_pct), int(size["width"] / crop_pct))
    elif "height" in size and "width" in size:
        resize = (size["height"], size["width"])
    elif "shortest_edge" in size:
        resize = size["shortest_edge"]
    else:
        raise EdgecvError(f"{kind} size {size} is not height/width or shortest_edge", "state --resize and --imgsz")
    if crop_hw is None and isinstance(resize, int):
        raise EdgecvError(f"{kind} resizes the shorter side without a crop: the input size would vary",
                          "state --imgsz H W")
    mean, std = _affine(proc, kind)
    input_size = crop_hw or resize
    order = "BGR" if _get(proc, "do_flip_channel_order", False) else "RGB"
    backend = getattr(proc, "backend", "pil")
    if backend == "pil":
        from edgecv.loaders.pipelines import installed_resampler

        resampler = installed_resampler()
    else:  # torch's antialiased resize on uint8 tensors, whatever Pillow does
        resampler = "torch"
    return {"input_size": tuple(input_size), "resize": None if resize == input_size else resize,
            "interpolation": _RESAMPLE[resample], "mean": mean, "std": std, "channel_order": order,
            "crop_rule": "floor", "pad_rule": "ceil" if backend == "pil" else "floor", "resampler": resampler}


def _affine(proc, kind) -> tuple[tuple, tuple]:
    """mean / std such that (v / 255 - mean) / std is what the processor computes from grey level v:
    rescale (by ``rescale_factor``, minus 1 with EfficientNet's ``rescale_offset``), normalise, and
    EfficientNet's ``include_top`` second division by std."""
    import numpy as np

    if not _get(proc, "do_rescale", False):
        raise EdgecvError(f"{kind} does not rescale pixels; edgecv's pipeline starts from v / 255")
    r = float(_get(proc, "rescale_factor", 1 / 255))
    offset = 1.0 if _get(proc, "rescale_offset", False) else 0.0
    scale, shift = np.full(3, r), np.full(3, -offset)  # out = scale * v + shift
    if _get(proc, "do_normalize", False):
        m, s = np.asarray(_get(proc, "image_mean"), float), np.asarray(_get(proc, "image_std"), float)
        scale, shift = scale / s, (shift - m) / s
        if _get(proc, "include_top", False):
            scale, shift = scale / s, shift / s
    std = 1.0 / (255.0 * scale)
    mean = -shift * std
    return tuple(float(x) for x in mean), tuple(float(x) for x in std)


def pipeline(proc):
    """The processor as a function: PIL image -> (C, H, W) float32 array, as the model is fed."""
    import numpy as np

    def run(image):
        return np.asarray(proc(images=image, return_tensors="np")["pixel_values"][0], dtype=np.float32)

    run.__name__ = f"{type(proc).__name__} ({getattr(proc, 'backend', 'pil')} backend)"
    return run
