"""torchvision classifiers by name, head sized for ``num_classes``.

The preprocessing facts (crop, resize, interpolation, ImageNet labels) are read from torchvision's
own weight metadata, which ships with the package (no download).  Weights are never downloaded:
models start from random init, or from a checkpoint the user gives.
"""
import torchvision
from torchvision.models import get_model, get_model_builder, get_model_weights, list_models as tv_list_models

from edgecv.models.registry import _REGISTRY, Entry, PretrainedCfg

# Smallest sensible input per family for quick tests (H = W); anything else gets 64.
_TEST_SIZE = {"inception_v3": 299, "googlenet": 64, "maxvit_t": 224, "vit_": 32, "swin": 64,
              "alexnet": 64, "squeezenet": 64, "vgg": 32}
# Transformer builders that need the input size at construction time.
_IMAGE_SIZE_KW = ("vit_",)


def _cfg_for(name: str) -> tuple[PretrainedCfg, int]:
    weights = get_model_weights(name).DEFAULT
    kw = getattr(weights.transforms, "keywords", {})
    crop = int(kw.get("crop_size", 224))
    resize = int(kw.get("resize_size", 256))
    interp = kw.get("interpolation", torchvision.transforms.InterpolationMode.BILINEAR).value
    labels = tuple(weights.meta.get("categories", ()))
    test = next((v for k, v in _TEST_SIZE.items() if name.startswith(k)), 64)
    cfg = PretrainedCfg(input_size=(crop, crop), resize=resize, interpolation=interp,
                        labels=labels, test_input_size=(test, test))
    return cfg, int(weights.meta.get("num_params", 0))


def _builder(name: str, default_size: int):
    def build(*, num_classes=1000, img_size=None, **kwargs):
        if name.startswith(_IMAGE_SIZE_KW):  # the size its default weights take (vit_h_14: 518), or the asked one
            img_size = default_size if img_size is None else img_size
            kwargs.setdefault("image_size", img_size if isinstance(img_size, int) else img_size[0])
        if name in ("googlenet", "inception_v3"):
            kwargs.setdefault("init_weights", False)  # torch's default init; True needs slow scipy
        return get_model(name, weights=None, num_classes=num_classes, **kwargs)

    build.__name__ = name
    return build


for _name in tv_list_models(module=torchvision.models):
    if _name in _REGISTRY:  # a zoo entry of our own wins (none today)
        continue
    _cfg, _params = _cfg_for(_name)
    _tags = ("torchvision",) + (("large",) if _params > 100e6 else ())
    _REGISTRY[_name] = Entry(_name, _builder(_name, _cfg.input_size[0]), _cfg, _tags, family=get_model_builder(_name).__module__)
