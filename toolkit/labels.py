"""Class labels from the files people already have (torch-free).

Accepted: a text file with one label per line; a JSON list; a JSON object ``{"0": "daisy", ...}``
(the ``class_indices.json`` of the Swin tutorial, Hugging Face's ``id2label``); TorchServe's
``index_to_name.json`` (``{"0": ["n01440764", "tench"]}``: the readable name is the last item); or an
ImageFolder root, whose sorted sub-folder names are the classes (torchvision's ``find_classes``).
"""
from __future__ import annotations

import json
from pathlib import Path

from edgecv.errors import EdgecvError


def read_labels(path: str | Path) -> list[str]:
    path = Path(path)
    if path.is_dir():
        names = sorted(e.name for e in path.iterdir() if e.is_dir() and not e.name.startswith("."))
        if not names:
            raise EdgecvError(f"labels folder {path} has no class sub-folders",
                              "pass an ImageFolder root (one sub-folder per class) or a labels file")
        return names
    if not path.is_file():
        raise EdgecvError(f"labels file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise EdgecvError(f"labels file {path} cannot be read as UTF-8 text ({e})") from None
    if path.suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise EdgecvError(f"labels file {path} is not valid JSON ({e})") from None
        return _from_json(data, path)
    labels = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not labels:
        raise EdgecvError(f"labels file {path} is empty")
    return labels


def _from_json(data, path: Path) -> list[str]:
    if isinstance(data, dict) and isinstance(data.get("id2label"), dict):  # a whole HF config.json
        data = data["id2label"]
    if isinstance(data, list):
        return [_name(v, path) for v in data]
    if not isinstance(data, dict) or not data:
        raise EdgecvError(f"labels file {path} holds neither a list nor an index -> name object")
    try:
        index = {int(k): v for k, v in data.items()}
    except ValueError:
        raise EdgecvError(f"labels file {path}: keys must be class indices (\"0\", \"1\", ...), "
                          f"got {next(iter(data))!r}") from None
    if sorted(index) != list(range(len(index))):
        missing = sorted(set(range(max(index) + 1)) - set(index))[:5]
        raise EdgecvError(f"labels file {path}: class indices are not 0..{len(index) - 1} "
                          f"(missing {missing})" if missing else f"labels file {path}: negative class index")
    return [_name(index[i], path) for i in range(len(index))]


def _name(v, path: Path) -> str:
    if isinstance(v, (list, tuple)) and v:  # TorchServe: ["n01440764", "tench"]
        v = v[-1]
    if not isinstance(v, (str, int, float)):
        raise EdgecvError(f"labels file {path}: a label is {type(v).__name__}, not text")
    return str(v)
