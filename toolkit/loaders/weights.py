"""Reading weights in the forms people save them (build side): ``torch.save`` files (safe
unpickler), ``.safetensors``, state_dicts nested under ``state_dict`` / ``model`` / ... and with
DataParallel's ``module.`` prefix."""
from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from edgecv.errors import EdgecvError

NEST_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "model_ema", "ema")
PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DDP, torch.compile


def _container(path: Path) -> str:
    """``empty``, ``zip`` (torch.save's format), ``pickle`` (the legacy one) or ``other``."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        return "empty"
    if head.startswith(b"PK"):
        return "zip"
    return "pickle" if head[0] == 0x80 else "other"


def read(path: Path, unsafe: bool):
    """The object in a weights file; one line saying what went wrong otherwise."""
    from edgecv.loaders.safe_load import pickled_objects, refused_global

    if path.suffix.lower() == ".safetensors":
        return read_safetensors(path)
    kind = _container(path)
    if kind == "empty":
        raise EdgecvError(f"{path} is empty (0 bytes)", "re-save or re-download it")
    if kind == "other":
        raise EdgecvError(f"{path} is not a torch checkpoint (neither torch.save's zip format nor a pickle)",
                          "pass a checkpoint, a state_dict, .safetensors, TorchScript or a .pt2 archive")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before failing on damage
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=not unsafe)
    except pickle.UnpicklingError as e:
        text = str(e)
        if refused_global(text):
            raise pickled_objects(path) from None
        m = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
        detail = m.group(1) if m else (text.splitlines()[0] if text else type(e).__name__)
        raise EdgecvError(f"{path} is damaged or not a torch checkpoint ({detail[:120]})",
                          "re-save or re-download it") from None
    except Exception as e:  # noqa: BLE001 - torch raises KeyError/RuntimeError/EOFError/... for damage
        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise EdgecvError(f"{path} is truncated or not a torch checkpoint ({msg})",
                          "re-save or re-download it") from None


def read_safetensors(path: Path) -> dict:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise EdgecvError(f"{path} needs safetensors", "pip install safetensors") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as e:  # noqa: BLE001 - SafetensorError, OSError
        raise EdgecvError(f"{path} is not a readable .safetensors file ({str(e).splitlines()[0][:120]})") from None


def is_state_dict(obj) -> bool:
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()))


def unwrap_state_dict(obj):
    """The state_dict inside ``obj`` (nested, prefixed), or None."""
    for _ in range(3):
        if isinstance(obj, dict) and not is_state_dict(obj):
            inner = next((obj[k] for k in NEST_KEYS if k in obj), None)
            if inner is None:
                break
            if isinstance(inner, nn.Module):
                inner = inner.state_dict()
            obj = inner
    if isinstance(obj, dict):  # tolerate non-tensor extras (e.g. an int step) beside the tensors
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        obj = tensors if tensors and len(tensors) >= len(obj) - 2 else obj
    if not is_state_dict(obj):
        return None
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


def load_state_dict(path: Path, unsafe: bool) -> dict:
    obj = read(path, unsafe)
    if isinstance(obj, nn.Module):  # only with unsafe: take its weights
        obj = obj.state_dict()
    sd = unwrap_state_dict(obj)
    if sd is None:
        raise EdgecvError(f"{path} holds no state_dict (found {type(obj).__name__})",
                          "pass the weights saved with torch.save(model.state_dict(), ...) or .safetensors")
    return sd
