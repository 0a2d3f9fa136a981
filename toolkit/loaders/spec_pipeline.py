"""The torchvision pipeline a ModelSpec describes (build side: torch, torchvision, PIL).

It is the training side's eval pipeline and the reference the deploy side's numpy/OpenCV pipeline
(``edgecv.runtimes.pipeline.preprocess``) is held to; ``edgecv.training.transforms`` adds the
augmenting training pipeline on top.
"""
from torchvision import transforms as T

from edgecv.spec import ModelSpec

_MODES = {"nearest": T.InterpolationMode.NEAREST, "bilinear": T.InterpolationMode.BILINEAR,
          "bicubic": T.InterpolationMode.BICUBIC}


def pil_mode(spec: ModelSpec) -> str:
    return "L" if spec.channel_order == "GRAY" else "RGB"


class CenterCrop:
    """A centre crop with the spec's rules (PIL in, PIL out): torchvision's ``CenterCrop`` for
    ``crop_rule="round"`` and ``pad_rule="floor"``, Hugging Face's processors' for ``floor`` and
    the pad rule of their backend."""

    def __init__(self, size, crop_rule: str = "round", pad_rule: str = "floor", fill=()):
        self.size, self.crop_rule, self.pad_rule = tuple(size), crop_rule, pad_rule
        self.fill = tuple(fill) if len(fill) != 1 else fill[0]  # PIL: one int for "L", a tuple for "RGB"

    def __call__(self, im):
        from PIL import Image

        from edgecv.runtimes.pipeline.preprocess import crop_box

        th, tw = self.size
        w, h = im.size
        if th > h or tw > w:  # zero padding first, the odd pixel placed by the pad rule
            ph, pw = max(th - h, 0), max(tw - w, 0)
            top, left = (ph // 2, pw // 2) if self.pad_rule == "floor" else ((ph + 1) // 2, (pw + 1) // 2)
            canvas = Image.new(im.mode, (w + pw, h + ph), self.fill or 0)
            canvas.paste(im, (left, top))
            im, (w, h) = canvas, canvas.size
        top, left = crop_box(h, w, th, tw, self.crop_rule)
        return im.crop((left, top, left + tw, top + th))


class ResizeLonger:
    """timm's ``ResizeKeepRatio(longest=1)`` (PIL in, PIL out): fit inside the box, sides rounded."""

    def __init__(self, box, interpolation: str):
        self.box, self.interpolation = box, interpolation

    def __call__(self, im):
        from torchvision.transforms import functional as F

        from edgecv.runtimes.pipeline.preprocess import resized_size

        h, w = resized_size(im.size[1], im.size[0], self.box, None, "longer")
        return F.resize(im, [h, w], interpolation=_MODES[self.interpolation], antialias=True)


def eval_transform(spec: ModelSpec):
    """PIL image (any mode) -> normalised CHW float tensor."""
    steps = [T.Lambda(lambda im: im.convert(pil_mode(spec)))]
    fill = spec.fill_in("RGB")  # PIL images are RGB (or L)
    if spec.resize is not None and spec.resize_edge == "longer":
        steps += [ResizeLonger(spec.resize, spec.interpolation),
                  CenterCrop(spec.input_size, spec.crop_rule, spec.pad_rule, fill)]
    elif spec.resize is None:
        steps.append(T.Resize(spec.input_size, interpolation=_MODES[spec.interpolation], antialias=True))
    else:
        steps += [T.Resize(spec.resize, interpolation=_MODES[spec.interpolation], antialias=True),
                  T.CenterCrop(spec.input_size) if (spec.crop_rule, spec.pad_rule, fill) == ("round", "floor", ())
                  else CenterCrop(spec.input_size, spec.crop_rule, spec.pad_rule, fill)]
    steps += _to_tensor(spec)
    return T.Compose(steps)


def _to_tensor(spec: ModelSpec) -> list:
    """ToTensor, channel order as the network sees it, then Normalize (mean/std in that order)."""
    steps = [T.ToTensor()]
    if spec.channel_order == "BGR":
        steps.append(T.Lambda(lambda t: t.flip(0)))
    return steps + [T.Normalize(spec.mean, spec.std)]
