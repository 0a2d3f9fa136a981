"""edgecv checkpoints, and building zoo models from the weights people saved.

The edgecv checkpoint is a plain dict (loads with ``torch.load(weights_only=True)``)::

    {"format": "edgecv.checkpoint", "format_version": 1, "arch": ..., "model_kwargs": {...},
     "num_classes": N, "labels": [...], "spec": {...ModelSpec...}, "state_dict": {...}, "meta": {...}}

Loading anything else (state_dicts, TorchScript, ``.pt2``, the user's own model file, Hugging Face
directories) is ``edgecv.loaders.sources``; ``load_model`` is re-exported here.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from edgecv.errors import EdgecvError
from edgecv.fileio import atomic_write, sha256_file  # noqa: F401  (sha256_file re-exported)
from edgecv.spec import PREPROCESSING_FIELDS, ModelSpec
from edgecv.loaders.request import LoadedModel  # noqa: F401  (re-exported)

FORMAT = "edgecv.checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path, model: nn.Module, spec: ModelSpec, meta: dict | None = None) -> Path:
    from edgecv import __version__

    _check_rebuilds(model, spec)
    from edgecv.loaders.pipelines import installed_resampler

    spec = ModelSpec.from_dict({**spec.to_dict(), "resampler": installed_resampler()})  # trained with this Pillow
    ckpt = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "arch": spec.arch,
        "model_kwargs": dict(spec.model_kwargs), "num_classes": spec.num_classes,
        "labels": list(spec.labels), "spec": spec.to_dict(),
        "state_dict": _portable_state_dict(model),
        "meta": {"edgecv_version": __version__, **(meta or {})},
    }
    return atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def _portable_state_dict(model: nn.Module) -> OrderedDict:
    """CPU tensors, keeping ``_metadata`` (module versions: torchvision's MNASNet refuses to load
    without it)."""
    sd = model.state_dict()
    out = OrderedDict((k, v.detach().cpu()) for k, v in sd.items())
    out._metadata = getattr(sd, "_metadata", None)
    return out


def _with_metadata(sd: dict, model: nn.Module) -> dict:
    """A state_dict that lost its ``_metadata`` (rebuilt dicts, stripped prefixes) gets the
    current module versions of the model it is loaded into."""
    if getattr(sd, "_metadata", None) is None:
        sd = OrderedDict(sd)
        sd._metadata = getattr(model.state_dict(), "_metadata", None)
    return sd


def _check_rebuilds(model: nn.Module, spec: ModelSpec) -> None:
    """The checkpoint must load again: arch + model_kwargs must rebuild this state_dict (meta device)."""
    from edgecv.models import create_model

    def build():
        return create_model(spec.arch, num_classes=spec.num_classes, **spec.model_kwargs)

    try:
        try:
            with torch.device("meta"):  # no memory, no init cost
                fresh = build()
        except (NotImplementedError, RuntimeError):  # builders that copy data at init (RegNet)
            fresh = build()
    except EdgecvError:
        raise
    except Exception as e:  # noqa: BLE001
        raise EdgecvError(f"{spec.arch} cannot be rebuilt from model_kwargs {spec.model_kwargs}: {e}") from None
    try:
        check_state_dict(fresh, model.state_dict(), spec.arch)
    except EdgecvError as e:
        raise EdgecvError(f"not saving: {e.message}", "put the builder arguments in spec.model_kwargs") from None


def check_state_dict(model: nn.Module, sd: dict, arch: str):
    """Raise one line naming the first missing / unexpected / mis-shaped keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}" + (f" (+{len(missing) - 3})" if len(missing) > 3 else ""))
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}"
                         + (f" (+{len(unexpected) - 3})" if len(unexpected) > 3 else ""))
        if shapes:
            parts.append(f"mis-shaped {'; '.join(shapes[:3])}")
        hint = "check --arch and --num-classes" if shapes else "check --arch"
        raise EdgecvError(f"state_dict does not fit {arch}: {'; '.join(parts)}", hint)


def suggest_archs(sd: dict, limit: int = 5) -> list[str]:
    """Registry entries whose state_dict keys match these keys (built on the meta device: no memory).
    A family (models from one builder file) is skipped when its first member shares fewer than half
    of its top-level module names with the weights (members differ in depth, width and optional
    norms, not in structure): a fraction of the registry is built instead of all of it."""
    from edgecv.models import create_model, get_entry, list_models

    import warnings

    keys = set(sd)
    tops = {k.split(".", 1)[0] for k in keys}
    found: list[str] = []
    ruled_out: set[str] = set()
    judged: set[str] = set()
    warnings.filterwarnings("ignore", category=FutureWarning, module="torchvision")
    for name in list_models():
        entry = get_entry(name)
        if "large" in entry.tags or entry.family in ruled_out:
            continue
        try:
            with torch.device("meta"):
                own = set(create_model(name, num_classes=2).state_dict())
        except Exception:  # noqa: BLE001 - a builder that cannot run on meta is just not suggested
            continue
        if own == keys:
            found.append(name)
        if entry.family not in judged:
            judged.add(entry.family)
            own_tops = {k.split(".", 1)[0] for k in own}
            if len(own_tops & tops) * 2 < len(own_tops | tops):
                ruled_out.add(entry.family)
        if len(found) >= limit:
            break
    return found


def build_from_state_dict(sd: dict, arch: str, num_classes: int | None, model_kwargs=None,
                          spec: ModelSpec | None = None):
    """A zoo model with these weights.  Builder arguments the weights determine (the number of
    classes, ODConv's ``kernel_num``) are read from them when not given; the spec says which."""
    from edgecv.loaders.infer import infer_build_args
    from edgecv.models import create_model

    n, kwargs, inferred = infer_build_args(arch, sd, num_classes or (spec.num_classes if spec else None),
                                           dict(model_kwargs or {}))
    model = create_model(arch, num_classes=n, **kwargs)
    check_state_dict(model, sd, arch)
    model.load_state_dict(_with_metadata(sd, model))
    model.eval()
    if spec is None:
        spec = zoo_spec(arch, n, kwargs, inferred)
    return model, spec


def zoo_spec(arch: str, num_classes: int, model_kwargs: dict | None = None, inferred=()) -> ModelSpec:
    """The spec a zoo architecture's weights are assumed to be used with: the family's own
    preprocessing (torchvision's weights transforms, timm's pretrained_cfg), marked ``assumed``
    (timm's: ``model``).  One model gets one assumption, whatever form its weights come in."""
    from edgecv.models import default_spec

    spec = default_spec(arch, num_classes=num_classes, model_kwargs=dict(model_kwargs or {}))
    family = "model" if arch.startswith("timm/") else "assumed"  # timm: its own pretrained_cfg
    spec.provenance = {**{f: family for f in PREPROCESSING_FIELDS}, "num_classes": "stated",
                       **{k: "inferred" for k in inferred}}
    return spec


def module_spec(model: nn.Module, arch: str | None, num_classes: int | None) -> ModelSpec | None:
    """The spec of a module object (in memory, or unpickled with --unsafe-load) whose family edgecv
    knows: ``arch`` or the one ``zoo_arch_of`` recognises, with the family's preprocessing; a timm
    module's own ``pretrained_cfg`` (its overlay included).  None for anything else (foreign)."""
    import dataclasses

    from edgecv.models.timm_models import timm_arch_of, timm_instance_fields

    arch = arch or zoo_arch_of(model)
    if arch is None:
        return None
    spec = zoo_spec(arch, num_classes or 1)
    if arch.startswith("timm/") and timm_arch_of(model) is not None:
        spec = dataclasses.replace(spec, **timm_instance_fields(model))
    spec.provenance["num_classes"] = "stated" if num_classes else "assumed"
    return spec


def zoo_arch_of(model: nn.Module) -> str | None:
    """The registry name of a module built by a zoo builder: edgecv's own (``edgecv_arch``, kept
    through pickling), or a torchvision classifier recognised by its class's module and its
    state_dict shapes (built on the meta device: no memory).  None when nothing fits exactly."""
    arch = getattr(model, "edgecv_arch", None)
    if isinstance(arch, str):
        return arch
    from edgecv.models.timm_models import timm_arch_of

    arch = timm_arch_of(model)
    if arch is not None:
        return arch
    module = type(model).__module__
    if not module.startswith("torchvision.models."):
        return None
    import warnings

    from torchvision.models import get_model_builder

    from edgecv.models import create_model, list_models

    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    head = next((v[0] for k, v in reversed(own.items()) if len(v) == 2), None)  # the classifier's rows
    warnings.filterwarnings("ignore", category=FutureWarning, module="torchvision")
    for name in list_models():
        try:
            if get_model_builder(name).__module__ != module:
                continue
            with torch.device("meta"):
                fresh = create_model(name, num_classes=head or 1000)
        except Exception:  # noqa: BLE001 - not a torchvision builder, or one that cannot run on meta
            continue
        if {k: tuple(v.shape) for k, v in fresh.state_dict().items()} == own:
            return name
    return None


def load_model(path, **kwargs):
    """See ``edgecv.loaders.sources.load_model``."""
    from edgecv.loaders.sources import load_model as load

    return load(path, **kwargs)


def describe_checkpoint(path, **kwargs) -> dict:
    """``edgecv info`` for anything ``load_model`` reads, as a plain dict."""
    lm = load_model(path, **kwargs)
    params = sum(p.numel() for p in lm.model.parameters()) if hasattr(lm.model, "parameters") else None
    return {"file": str(path), "kind": lm.kind, "sha256": lm.sha256, "arch": lm.spec.arch,
            "num_classes": lm.spec.num_classes, "parameters": params, "labels": lm.spec.labels,
            "preprocessing": lm.spec.describe_sources(), "notes": lm.notes, "spec": lm.spec.to_dict(),
            "meta": lm.meta}
