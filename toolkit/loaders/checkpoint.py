"""edgecv checkpoints, and a loader that accepts what people actually save.

The edgecv checkpoint is a plain dict (loads with ``torch.load(weights_only=True)``)::

    {"format": "edgecv.checkpoint", "format_version": 1, "arch": ..., "model_kwargs": {...},
     "num_classes": N, "labels": [...], "spec": {...ModelSpec...}, "state_dict": {...}, "meta": {...}}

``load_model`` also accepts a bare state_dict (with ``arch``), optionally nested under ``state_dict``
/ ``model`` / ... and with DataParallel's ``module.`` prefix, a TorchScript archive, a
``torch.export`` ``.pt2`` file and (only with ``unsafe=True``) a fully pickled ``nn.Module``.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from edgecv.errors import EdgecvError
from edgecv.fileio import atomic_write
from edgecv.spec import ModelSpec

FORMAT = "edgecv.checkpoint"
FORMAT_VERSION = 1
_NEST_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "model_ema", "ema")


@dataclass
class LoadedModel:
    """What ``load_model`` returns: an eval-mode module, its spec, and where it came from."""

    model: nn.Module
    spec: ModelSpec
    kind: str  # edgecv | state_dict | torchscript | exported_program | pickled_module
    path: Path
    sha256: str
    meta: dict = field(default_factory=dict)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(path, model: nn.Module, spec: ModelSpec, meta: dict | None = None) -> Path:
    from edgecv import __version__

    _check_rebuilds(model, spec)
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


def _zip_names(path: Path) -> list[str] | None:
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except zipfile.BadZipFile:
        return None


def _read(path: Path, unsafe: bool):
    """torch.load with the safe unpickler; explain what went wrong in one line."""
    try:
        return torch.load(path, map_location="cpu", weights_only=not unsafe)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise EdgecvError(
                f"{path} holds pickled Python objects (a whole nn.Module?), and unpickling them can "
                "run arbitrary code", "pass --unsafe-load only if you trust the file") from None
        raise EdgecvError(f"{path} is not a torch checkpoint ({text.splitlines()[0][:120]})") from None
    except Exception as e:  # noqa: BLE001 - torch raises KeyError/RuntimeError/EOFError/... for damage
        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise EdgecvError(f"{path} is truncated or not a torch checkpoint ({msg})",
                          "re-save or re-download it") from None


def _unwrap_state_dict(obj):
    for _ in range(3):
        if isinstance(obj, dict) and not _is_state_dict(obj):
            inner = next((obj[k] for k in _NEST_KEYS if k in obj), None)
            if inner is None:
                break
            if isinstance(inner, nn.Module):
                inner = inner.state_dict()
            obj = inner
    if not _is_state_dict(obj):
        return None
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _is_state_dict(obj) -> bool:
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()))


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
    """Registry entries whose state_dict keys match these keys (built on the meta device: no memory)."""
    from edgecv.models import create_model, get_entry, list_models

    import warnings

    keys = set(sd)
    found = []
    warnings.filterwarnings("ignore", category=FutureWarning, module="torchvision")
    for name in list_models():
        if "large" in get_entry(name).tags:
            continue
        try:
            with torch.device("meta"):
                own = set(create_model(name, num_classes=2).state_dict())
        except Exception:  # noqa: BLE001 - a builder that cannot run on meta is just not suggested
            continue
        if own == keys:
            found.append(name)
        if len(found) >= limit:
            break
    return found


def _infer_num_classes(sd: dict) -> int | None:
    last = [v for k, v in sd.items() if k.endswith("weight") and v.ndim == 2]
    return int(last[-1].shape[0]) if last else None


def build_from_state_dict(sd: dict, arch: str, num_classes: int | None, model_kwargs=None,
                          spec: ModelSpec | None = None):
    from edgecv.models import create_model, default_spec

    n = num_classes or (spec.num_classes if spec else None) or _infer_num_classes(sd)
    model = create_model(arch, num_classes=n, **(model_kwargs or {}))
    check_state_dict(model, sd, arch)
    model.load_state_dict(_with_metadata(sd, model))
    model.eval()
    spec = spec or default_spec(arch, num_classes=n, model_kwargs=model_kwargs)
    return model, spec


def load_model(path, *, arch: str | None = None, num_classes: int | None = None,
               unsafe: bool = False, model_kwargs: dict | None = None) -> LoadedModel:
    """Load anything the product accepts as a checkpoint; errors are ``EdgecvError`` (exit 2)."""
    path = Path(path)
    if not path.exists():
        raise EdgecvError(f"{path} does not exist")
    if path.is_dir():
        raise EdgecvError(f"{path} is a folder, not a checkpoint file")
    digest = sha256_file(path)
    names = _zip_names(path)
    if names is not None and any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return _load_torchscript(path, digest, arch, num_classes)
    if names is not None and any(n.endswith(("serialized_exported_program.json", "models/model.json"))
                                 or "/models/" in n for n in names) or path.suffix == ".pt2":
        return _load_exported_program(path, digest, arch, num_classes)
    obj = _read(path, unsafe)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        spec = ModelSpec.from_dict(obj["spec"])
        model, spec = build_from_state_dict(obj["state_dict"], obj["arch"], obj["num_classes"],
                                            obj.get("model_kwargs"), spec)
        return LoadedModel(model, spec, "edgecv", path, digest, obj.get("meta", {}))
    if isinstance(obj, nn.Module):  # only reachable with unsafe=True
        name = arch or getattr(obj, "edgecv_arch", None) or type(obj).__name__
        spec = _spec_for_foreign(name, num_classes)
        return LoadedModel(obj.eval(), spec, "pickled_module", path, digest)
    sd = _unwrap_state_dict(obj)
    if sd is None:
        raise EdgecvError(f"{path} is not a checkpoint: found {type(obj).__name__} without tensors",
                          "pass an edgecv checkpoint, a state_dict, TorchScript or .pt2 file")
    if arch is None:
        guesses = suggest_archs(sd)
        hint = f"matching registry entries: {', '.join(guesses)}" if guesses else "see `edgecv models`"
        raise EdgecvError(f"{path} is a bare state_dict; pass --arch (and --num-classes)", hint)
    model, spec = build_from_state_dict(sd, arch, num_classes, model_kwargs)
    return LoadedModel(model, spec, "state_dict", path, digest)


def _spec_for_foreign(name, num_classes):
    from edgecv.models import default_spec, get_entry

    try:
        get_entry(name)
        return default_spec(name, num_classes=num_classes)
    except EdgecvError:
        n = num_classes or 1000
        return ModelSpec(arch=name, num_classes=n)


def _load_torchscript(path, digest, arch, num_classes):
    extra = {"edgecv_spec.json": ""}
    try:
        m = torch.jit.load(str(path), map_location="cpu", _extra_files=extra).eval()
    except RuntimeError as e:
        raise EdgecvError(f"{path} is a damaged TorchScript archive ({str(e).splitlines()[0][:120]})") from None
    spec = _spec_from_extra(extra) or _spec_for_foreign(arch or "torchscript", num_classes)
    return LoadedModel(m, spec, "torchscript", path, digest)


def _spec_from_extra(extra: dict):
    text = extra.get("edgecv_spec.json")
    if isinstance(text, bytes):
        text = text.decode()
    return ModelSpec.from_json(text) if text else None


def _load_exported_program(path, digest, arch, num_classes):
    extra = {"edgecv_spec.json": ""}
    try:
        ep = torch.export.load(str(path), extra_files=extra)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad archives
        raise EdgecvError(f"{path} is not a loadable torch.export archive ({str(e).splitlines()[0][:120]})") from None
    spec = _spec_from_extra(extra) or _spec_for_foreign(arch or "exported_program", num_classes)
    return LoadedModel(ep.module(), spec, "exported_program", path, digest)


def describe_checkpoint(path, arch=None, num_classes=None, unsafe=False) -> dict:
    """``edgecv info`` for a checkpoint, state_dict, TorchScript or .pt2 file, as a plain dict."""
    lm = load_model(path, arch=arch, num_classes=num_classes, unsafe=unsafe)
    params = sum(p.numel() for p in lm.model.parameters()) if hasattr(lm.model, "parameters") else None
    return {"file": str(path), "kind": lm.kind, "sha256": lm.sha256, "arch": lm.spec.arch,
            "num_classes": lm.spec.num_classes, "parameters": params, "labels": lm.spec.labels,
            "spec": lm.spec.to_dict(), "meta": lm.meta}
