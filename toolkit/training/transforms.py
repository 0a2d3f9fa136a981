"""The training-side (torchvision/PIL) pipeline a ModelSpec describes.

This is the reference the deploy-side numpy/OpenCV pipeline (``edgecv.runtimes.pipeline.preprocess``) is held to.
"""
from torchvision import transforms as T

from edgecv.spec import ModelSpec

_MODES = {"nearest": T.InterpolationMode.NEAREST, "bilinear": T.InterpolationMode.BILINEAR,
          "bicubic": T.InterpolationMode.BICUBIC}


def pil_mode(spec: ModelSpec) -> str:
    return "L" if spec.channel_order == "GRAY" else "RGB"


def eval_transform(spec: ModelSpec):
    """PIL image (any mode) -> normalised CHW float tensor."""
    steps = [T.Lambda(lambda im: im.convert(pil_mode(spec)))]
    if spec.resize is None:
        steps.append(T.Resize(spec.input_size, interpolation=_MODES[spec.interpolation], antialias=True))
    else:
        steps += [T.Resize(spec.resize, interpolation=_MODES[spec.interpolation], antialias=True),
                  T.CenterCrop(spec.input_size)]
    steps += _to_tensor(spec)
    return T.Compose(steps)


def train_transform(spec: ModelSpec, augment: bool, flip: bool = True):
    """Augmentation from the tutorial seed: small rotation, random resized crop, optional h-flip."""
    if not augment:
        return eval_transform(spec)
    steps = [T.Lambda(lambda im: im.convert(pil_mode(spec)))]
    if spec.resize is not None:
        steps.append(T.Resize(spec.resize, interpolation=_MODES[spec.interpolation], antialias=True))
    steps += [T.RandomRotation(10),
              T.RandomResizedCrop(spec.input_size, scale=(0.8, 1.0), ratio=(0.9, 1.1),
                                  interpolation=_MODES[spec.interpolation], antialias=True)]
    if flip:
        steps.append(T.RandomHorizontalFlip(0.5))
    steps += _to_tensor(spec)
    return T.Compose(steps)


def _to_tensor(spec: ModelSpec) -> list:
    """ToTensor, channel order as the network sees it, then Normalize (mean/std in that order)."""
    steps = [T.ToTensor()]
    if spec.channel_order == "BGR":
        steps.append(T.Lambda(lambda t: t.flip(0)))
    return steps + [T.Normalize(spec.mean, spec.std)]
