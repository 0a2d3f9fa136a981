"""The user's own model code: ``--model-file model.py[:NAME]`` plus a weights file (TorchServe's
``--model-file`` + ``--serialized-file``).

The file is imported (running it is what the user asked for), ``NAME`` is called with
``num_classes`` and ``--model-arg`` keyword arguments (without ``:NAME``: the one ``nn.Module``
subclass the file defines), and the weights (state_dict in any usual nesting, or ``.safetensors``)
are loaded into it with the usual key check.  Unpickling a foreign object still needs --unsafe-load.
"""
from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import torch
from torch import nn

from edgecv.errors import EdgecvError
from edgecv.loaders import weights
from edgecv.loaders.request import LoadedModel, ModelRequest


def matches(req: ModelRequest) -> bool:
    return req.model_file is not None


def split_spec(text: str) -> tuple[Path, str | None]:
    """``dir/model.py:Name`` -> (path, "Name"); a Windows drive colon is not a separator."""
    head, sep, name = text.rpartition(":")
    if sep and head and not name.startswith(("\\", "/")) and name:
        return Path(head), name
    return Path(text), None


def import_file(path: Path):
    if not path.is_file():
        raise EdgecvError(f"model file {path} does not exist")
    mod_name = f"edgecv_user_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise EdgecvError(f"model file {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # its own sibling imports
    try:
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    except SyntaxError as e:
        sys.modules.pop(mod_name, None)
        raise EdgecvError(f"model file {path} has a syntax error at line {e.lineno}: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 - whatever the user's module raises at import
        sys.modules.pop(mod_name, None)
        raise EdgecvError(f"model file {path} fails on import ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})",
                          "run `python " + str(path) + "` to see the full error") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def find_builder(module, path: Path, name: str | None):
    if name is not None:
        if not hasattr(module, name):
            raise EdgecvError(f"{path} defines no {name!r}", f"it defines: {', '.join(_public(module)) or 'nothing'}")
        fn = getattr(module, name)
        if not callable(fn):
            raise EdgecvError(f"{path}:{name} is a {type(fn).__name__}, not a class or function")
        return fn, name
    own = [n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, nn.Module)
           and v.__module__ == module.__name__]
    if len(own) != 1:
        what = f"{len(own)} nn.Module classes ({', '.join(own)})" if own else "no nn.Module class"
        raise EdgecvError(f"{path} defines {what}", f"name the class or factory: --model-file {path}:NAME")
    return getattr(module, own[0]), own[0]


def _public(module) -> list[str]:
    return [n for n, v in vars(module).items() if not n.startswith("_") and callable(v)
            and getattr(v, "__module__", None) == module.__name__][:12]


def _accepts(fn, kw: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == kw or p.kind == p.VAR_KEYWORD for p in params)


def build(fn, label: str, kwargs: dict):
    try:
        model = fn(**kwargs)
    except TypeError as e:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise EdgecvError(f"calling {label}({args}) failed: {e}", "pass its arguments with --model-arg KEY=VALUE") from None
    except Exception as e:  # noqa: BLE001
        raise EdgecvError(f"{label} raised {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}") from None
    if not isinstance(model, nn.Module):
        raise EdgecvError(f"{label} returned {type(model).__name__}, not an nn.Module",
                          "name the model class or a factory that returns one")
    return model


def load(req: ModelRequest) -> LoadedModel:
    from edgecv.loaders.checkpoint import check_state_dict, sha256_file
    from edgecv.loaders.finish import foreign_spec
    from edgecv.loaders.infer import classes_from_weights, head_keys

    path, name = split_spec(req.model_file)
    module = import_file(path)
    fn, name = find_builder(module, path, name)
    label = f"{path.name}:{name}"
    sd = weights.load_state_dict(req.path, req.unsafe)
    kwargs = dict(req.model_kwargs)
    inferred = []
    if req.num_classes is not None:
        if not _accepts(fn, "num_classes"):
            raise EdgecvError(f"{label} takes no num_classes argument",
                              "leave --num-classes out, or pass the builder's own name with --model-arg")
        kwargs["num_classes"] = req.num_classes
    elif _accepts(fn, "num_classes") and "num_classes" not in kwargs:
        def shapes(n):
            with torch.device("meta"):
                return {k: tuple(v.shape) for k, v in build(fn, label, {**kwargs, "num_classes": n}).state_dict().items()}
        try:
            n = classes_from_weights(sd, head_keys(shapes))
        except EdgecvError:
            raise
        except Exception:  # noqa: BLE001 - user code that cannot build on the meta device
            n = None
        if n is not None:
            kwargs["num_classes"] = n
            inferred.append("num_classes")
    model = build(fn, label, kwargs)
    check_state_dict(model, sd, label)
    model.load_state_dict(sd)
    spec = foreign_spec(label, kwargs.get("num_classes"))
    spec.model_kwargs = {k: v for k, v in kwargs.items() if k != "num_classes"}
    if inferred:
        spec.provenance["num_classes"] = "inferred"
    lm = LoadedModel(model.eval(), spec, "model_file", req.path, sha256_file(req.path),
                     {"model_file": str(path), "builder": name})
    if inferred:
        lm.notes.append(f"num_classes {kwargs['num_classes']} read from the weights' head")
    return lm
