"""The source's own preprocessing as a runnable pipeline (build side), for the export's self-check.

- Hugging Face directories bring their image processor (``sources.hf_processor``).
- timm models: timm's own eval transform, ``create_transform(**resolve_data_config(model))``.
- the user's torchvision transforms (``--transforms FILE.py:NAME``, or a ``Compose`` from Python).
- everything else: the torchvision transforms of the model's spec, the pipeline edgecv's training
  uses (``training.transforms.eval_transform``).

A pipeline takes a PIL image and returns the (C, H, W) float32 array the model is fed.
"""
from __future__ import annotations

import numpy as np

from edgecv.errors import EdgecvError


def installed_resampler() -> str:
    """``ModelSpec.resampler`` of the Pillow installed here (the build environment, normally the one
    the model was trained in): Pillow 13 changed the order of its two resampling passes."""  # noqa: D401
    import PIL

    return "pillow13" if int(PIL.__version__.split(".")[0]) >= 13 else "pillow12"


def _named(fn, name: str):
    fn.__name__ = name
    return fn


def _as_array(x) -> np.ndarray:
    x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    return x.astype(np.float32)


def torchvision_pipeline(compose, name: str):
    return _named(lambda im: _as_array(compose(im)), name)


def default_pipeline(lm):
    """timm's eval transform for timm models; else the spec's own torchvision transforms."""
    spec = lm.spec
    if spec.arch.startswith("timm/") and hasattr(lm.model, "pretrained_cfg"):
        from timm.data import create_transform, resolve_data_config

        tf = create_transform(**resolve_data_config({}, model=lm.model))
        return torchvision_pipeline(tf, f"timm's eval transform for {spec.arch[5:]}")
    from edgecv.loaders.spec_pipeline import eval_transform

    return torchvision_pipeline(eval_transform(spec), "the spec's torchvision transforms (edgecv's training pipeline)")


def user_transforms(transforms) -> tuple[dict, object]:
    """(spec fields, pipeline) of the user's eval transforms: a ``Compose`` or ``FILE.py:NAME`` naming
    one (or a function of no arguments returning one)."""
    from edgecv.spec_transforms import fields_from_transforms

    compose = transforms
    if isinstance(transforms, str):
        from edgecv.loaders.sources.model_file import import_file, split_spec

        path, name = split_spec(transforms)
        module = import_file(path)
        if name is None or not hasattr(module, name):
            raise EdgecvError(f"--transforms {transforms}: name the transforms in the file as FILE.py:NAME",
                              "e.g. --transforms train.py:val_transform")
        compose = getattr(module, name)
        if callable(compose) and type(compose).__name__ != "Compose" and not hasattr(compose, "transforms"):
            try:
                compose = compose()
            except TypeError:
                pass  # a transform object that is itself callable on images
    return fields_from_transforms(compose), torchvision_pipeline(compose, f"your transforms ({type(compose).__name__})")
