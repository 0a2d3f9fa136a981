"""The training-side (torchvision/PIL) pipelines: the augmenting one here, and the eval one a ModelSpec
describes (``edgecv.loaders.spec_pipeline``, re-exported).
"""
from torchvision import transforms as T

from edgecv.spec import ModelSpec

from edgecv.loaders.spec_pipeline import _MODES, ResizeLonger, _to_tensor, eval_transform, pil_mode  # noqa: F401


def train_transform(spec: ModelSpec, augment: bool, flip: bool = True):
    """Augmentation from the tutorial seed: small rotation, random resized crop, optional h-flip."""
    if not augment:
        return eval_transform(spec)
    steps = [T.Lambda(lambda im: im.convert(pil_mode(spec)))]
    if spec.resize is not None and spec.resize_edge == "longer":
        steps.append(ResizeLonger(spec.resize, spec.interpolation))
    elif spec.resize is not None:
        steps.append(T.Resize(spec.resize, interpolation=_MODES[spec.interpolation], antialias=True))
    steps += [T.RandomRotation(10),
              T.RandomResizedCrop(spec.input_size, scale=(0.8, 1.0), ratio=(0.9, 1.1),
                                  interpolation=_MODES[spec.interpolation], antialias=True)]
    if flip:
        steps.append(T.RandomHorizontalFlip(0.5))
    steps += _to_tensor(spec)
    return T.Compose(steps)
