"""``torch.save`` / ``.safetensors`` files: an edgecv checkpoint, a zoo model's bare state_dict
(with ``--arch``), or (only with ``--unsafe-load``) a whole pickled ``nn.Module``."""
from __future__ import annotations

from torch import nn

from edgecv.errors import EdgecvError, NeedsArch
from edgecv.loaders import weights
from edgecv.loaders.request import LoadedModel, ModelRequest
from edgecv.spec import ModelSpec


def matches(req: ModelRequest) -> bool:
    return req.path.is_file()


def load(req: ModelRequest) -> LoadedModel:
    from edgecv.loaders.checkpoint import FORMAT, build_from_state_dict, sha256_file, suggest_archs

    path = req.path
    digest = sha256_file(path)
    obj = weights.read(path, req.unsafe)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        spec = ModelSpec.from_dict(obj["spec"]).with_saved_provenance()
        model, spec = build_from_state_dict(obj["state_dict"], obj["arch"], obj["num_classes"],
                                            obj.get("model_kwargs"), spec)
        return LoadedModel(model, spec, "edgecv", path, digest, obj.get("meta", {}))
    if isinstance(obj, nn.Module):  # only reachable with unsafe=True
        from edgecv.loaders.checkpoint import module_spec
        from edgecv.loaders.finish import foreign_spec

        # a zoo model: the same assumption as for its state_dict with --arch (a timm module: its own cfg)
        spec = module_spec(obj, req.arch, req.num_classes) or foreign_spec(type(obj).__name__, req.num_classes)
        return LoadedModel(obj.eval(), spec, "pickled_module", path, digest)
    sd = weights.unwrap_state_dict(obj)
    if sd is None:
        raise EdgecvError(f"{path} is not a checkpoint: found {type(obj).__name__} without tensors",
                          "pass an edgecv checkpoint, a state_dict, TorchScript or .pt2 file")
    if req.arch is None:
        guesses = suggest_archs(sd)
        hint = (f"matching registry entries: {', '.join(guesses)}" if guesses else "see `edgecv models`") \
            + "; or --model-file model.py:NAME for your own model code"
        raise NeedsArch(f"{path} is a bare state_dict; pass --arch or --model-file", hint)
    model, spec = build_from_state_dict(sd, req.arch, req.num_classes, req.model_kwargs)
    return LoadedModel(model, spec, "state_dict", path, digest)
