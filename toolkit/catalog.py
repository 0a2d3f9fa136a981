"""The model zoo's names without importing torch or torchvision (``edgecv models`` in a fraction of a
second instead of the ~10 s torchvision's import costs).

The names are read from the source, as the registry itself registers them: every function decorated
with ``register_model`` in edgecv's ``models/`` folder and in torchvision's top-level ``models/``
files (torchvision's classification namespace; detection, segmentation, video and quantized models
live in its sub-packages).  ``tests/test_registry.py`` holds this list equal to the registry's.
"""
from __future__ import annotations

import ast
import fnmatch
import importlib.util
from functools import lru_cache
from pathlib import Path


def _registered(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []
    names = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            call = dec if isinstance(dec, ast.Call) else None
            target = call.func if call else dec
            if getattr(target, "id", getattr(target, "attr", None)) != "register_model":
                continue
            arg = call.args[0] if call and call.args else None
            names.append(arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else node.name)
    return names


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # finds without importing the package itself
    return Path(spec.origin).parent if spec and spec.origin else None


@lru_cache(maxsize=1)
def model_names() -> tuple[str, ...]:
    own = Path(__file__).resolve().parent / "models"
    names = [n for f in sorted(own.glob("*.py")) for n in _registered(f)]
    try:
        tv = _package_dir("torchvision")
    except (ImportError, ValueError):
        tv = None
    if tv is not None:
        names += [n for f in sorted((tv / "models").glob("*.py")) for n in _registered(f)]
    return tuple(sorted(set(names)))


def match(pattern: str | None, names) -> list[str]:
    """``pattern`` as an fnmatch filter when it has a wildcard, else as a substring (``swin``)."""
    if pattern is None:
        return list(names)
    if any(ch in pattern for ch in "*?["):
        return [n for n in names if fnmatch.fnmatch(n, pattern)]
    return [n for n in names if pattern.lower() in n.lower()]
