"""A timm-style model registry: thin registered builders, preprocessing facts stored as data."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

from edgecv.errors import EdgecvError
from edgecv.spec import IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class PretrainedCfg:
    """Preprocessing facts of a model family, stored beside the builder (timm's habit)."""

    input_size: tuple[int, int] = (224, 224)
    resize: int | tuple[int, int] | None = 256
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channel_order: str = "RGB"
    resize_edge: str = "shorter"  # "longer": a letterbox (timm's border crop mode), padded with pad_fill
    pad_fill: tuple[int, ...] = ()
    num_classes: int = 1000
    labels: tuple[str, ...] = ()
    # Smallest input a test may feed (None: input_size).  Lets the registry test stay fast.
    test_input_size: tuple[int, int] | None = None


@dataclass
class Entry:
    name: str
    builder: Callable
    cfg: PretrainedCfg
    tags: tuple[str, ...] = field(default_factory=tuple)
    # Builder arguments the weights determine: ``infer(state_dict) -> {kwarg: value}``.
    infer: Callable | None = None
    # The models built by one piece of code (a torchvision module, an edgecv family file): its members
    # share state_dict structure and differ in sizes.
    family: str = ""


_REGISTRY: dict[str, Entry] = {}
_LAZY_FAMILIES_LOADED = False


def register_model(name: str | None = None, *, cfg: PretrainedCfg | None = None, tags=(), infer=None):
    """Decorator: register a builder ``fn(*, num_classes, **kwargs) -> nn.Module``. Names are unique.
    ``infer(state_dict)`` returns the builder arguments a checkpoint's shapes determine."""

    def wrap(fn):
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is already registered")
        _REGISTRY[key] = Entry(key, fn, cfg or PretrainedCfg(), tuple(tags), infer, fn.__module__)
        return fn

    return wrap


def _ensure_loaded():
    global _LAZY_FAMILIES_LOADED
    if _LAZY_FAMILIES_LOADED:
        return
    _LAZY_FAMILIES_LOADED = True
    from edgecv.models import tv  # noqa: F401  (registers torchvision classifiers)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted; ``pattern`` is a substring, or an fnmatch filter when it has a
    wildcard.  timm models are ``timm/<name>``."""
    from edgecv.catalog import match

    _ensure_loaded()
    return match(pattern, sorted(_REGISTRY))


def get_entry(name: str) -> Entry:
    _ensure_loaded()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.startswith("timm/"):
        from edgecv.models.timm_models import timm_entry

        return timm_entry(name)
    close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "see `edgecv models` for the list"
    raise EdgecvError(f"unknown arch {name!r}", hint)


def create_model(name: str, *, num_classes: int | None = None, **kwargs):
    """Build a registered model.  ``num_classes`` defaults to the family's own."""
    entry = get_entry(name)
    n = entry.cfg.num_classes if num_classes is None else int(num_classes)
    model = entry.builder(num_classes=n, **kwargs)
    model.edgecv_arch = name
    return model


def default_spec(name: str, *, num_classes: int | None = None, labels=None, model_kwargs=None):
    """The ModelSpec a fresh model of ``name`` is trained and deployed with."""
    from edgecv.spec import ModelSpec, per_channel, scale_resize

    entry = get_entry(name)
    cfg = entry.cfg
    kwargs = dict(model_kwargs or {})
    n = cfg.num_classes if num_classes is None else int(num_classes)
    if labels is None:
        labels = list(cfg.labels) if len(cfg.labels) == n else []
    input_size, resize = cfg.input_size, cfg.resize
    if "img_size" in kwargs:  # builders that take an input size keep resize/crop in proportion
        img = kwargs["img_size"]
        input_size = (img, img) if isinstance(img, int) else tuple(img)
        resize = scale_resize(resize, cfg.input_size, input_size)
    channel_order = cfg.channel_order
    if kwargs.get("in_chans") == 1:
        channel_order = "GRAY"
    elif kwargs.get("in_chans") == 3 and channel_order == "GRAY":
        channel_order = "RGB"
    mean, std = per_channel(cfg.mean, channel_order), per_channel(cfg.std, channel_order)
    fill = tuple(round(v) for v in per_channel(cfg.pad_fill, channel_order)) if cfg.pad_fill else ()
    return ModelSpec(arch=name, num_classes=n, input_size=input_size, resize=resize,
                     interpolation=cfg.interpolation, mean=mean, std=std, resize_edge=cfg.resize_edge,
                     pad_fill=fill, channel_order=channel_order, labels=list(labels), model_kwargs=kwargs)
