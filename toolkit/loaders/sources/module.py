"""An in-memory ``nn.Module`` as a model source (``edgecv.export(model, ...)`` from a notebook or a
training script): no file, no unpickling.  A module a zoo builder made (edgecv's own, or a torchvision
classifier recognised by its class and state_dict shapes) gets its family's assumed preprocessing, as
its saved weights would; anything else is foreign: probed for channels, input size and classes."""
from __future__ import annotations

import hashlib
from pathlib import Path

from torch import nn

from edgecv.errors import EdgecvError
from edgecv.loaders.request import LoadedModel, ModelRequest


def state_digest(model: nn.Module) -> str:
    """sha256 over the state_dict's names, shapes and bytes: the model's identity without a file."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        t = v.detach().cpu().contiguous()
        h.update(f"{k}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.numpy().tobytes() if t.dtype.is_floating_point or not t.is_complex() else b"")
    return h.hexdigest()


def load_module(module: nn.Module, *, arch: str | None = None, num_classes: int | None = None,
                stated: dict | None = None, transforms=None, output: str | None = None, **_unused) -> LoadedModel:
    """The module as a LoadedModel, settled as every source's model is (``loaders.finish``)."""
    from edgecv.loaders.checkpoint import module_spec
    from edgecv.loaders.finish import finish, foreign_spec
    from edgecv.loaders.pipelines import default_pipeline, user_transforms

    if not isinstance(module, nn.Module):
        raise EdgecvError(f"an in-memory model must be a torch nn.Module, got {type(module).__name__}",
                          "pass the module, or a path to a model file")
    stated = {k: v for k, v in (stated or {}).items() if v is not None}
    pipeline = None
    if transforms is not None:
        fields, pipeline = user_transforms(transforms)
        stated = {**fields, **stated}
    name = type(module).__name__
    req = ModelRequest(Path(f"<{name}>"), arch, num_classes, {}, None, False, output, stated, transforms)
    spec = module_spec(module, arch, num_classes) or foreign_spec(name, num_classes)
    lm = finish(LoadedModel(module.eval(), spec, "module", req.path, state_digest(module)), req)
    lm.pipeline = pipeline or default_pipeline(lm)
    return lm
