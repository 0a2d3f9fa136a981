"""Model sources: everything ``edgecv export / verify / info`` accepts as "the model".

Each source is one module with ``matches(request) -> bool`` and ``load(request) -> LoadedModel``;
the first match in ``SOURCES`` loads.  Adding a source is one new file here plus one line below.
``load_model`` then settles, the same way for every source, what the files did not say: stated
spec fields win, a foreign model's channels, input size and class count are read from the model
itself (a probe forward), and the class-score output is chosen among several.
"""
from __future__ import annotations

from pathlib import Path

from edgecv.errors import EdgecvError
from edgecv.loaders.request import LoadedModel, ModelRequest
from edgecv.loaders.sources import exported, huggingface, model_file, torch_file, torchscript

SOURCES = [huggingface, model_file, torchscript, exported, torch_file]  # first match wins


def load_model(path, *, arch: str | None = None, num_classes: int | None = None, unsafe: bool = False,
               model_kwargs: dict | None = None, model_file: str | None = None, output: str | None = None,
               stated: dict | None = None, transforms=None) -> LoadedModel:
    """Load anything the product accepts; errors are ``EdgecvError`` (exit 2).  ``transforms``: the
    user's eval transforms (a torchvision ``Compose`` or ``"FILE.py:NAME"``): their spec fields count
    as stated, and they become the pipeline the export checks its preprocessing against."""
    from edgecv.loaders.finish import finish
    from edgecv.loaders.pipelines import default_pipeline, user_transforms

    stated = {k: v for k, v in (stated or {}).items() if v is not None}
    pipeline = None
    if transforms is not None:
        fields, pipeline = user_transforms(transforms)
        stated = {**fields, **stated}
    req = ModelRequest(Path(path), arch, num_classes, dict(model_kwargs or {}), model_file, unsafe, output, stated,
                       transforms)
    if not req.path.exists():
        raise EdgecvError(f"{req.path} does not exist")
    if req.path.is_dir() and not huggingface.matches(req):
        raise EdgecvError(f"{req.path} is a folder, not a model file",
                          "pass a checkpoint file, or a Hugging Face directory with config.json")
    source = next(s for s in SOURCES if s.matches(req))
    lm = finish(source.load(req), req)
    lm.pipeline = pipeline or lm.pipeline or default_pipeline(lm)
    return lm
