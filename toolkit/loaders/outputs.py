"""Which of a model's outputs are the class scores (build side).

Models return a tensor, a tuple / list (auxiliary heads, features), a dict, or a Hugging Face
``ModelOutput``.  ``pick`` chooses one tensor: the one named or indexed by ``--output``, else
``logits`` where there is one, else the first; ``describe`` lists the choices for messages.
"""
from __future__ import annotations

import torch
from torch import nn

from edgecv.errors import EdgecvError


def _items(out) -> list[tuple[str, object]]:
    if isinstance(out, dict):  # ModelOutput is an OrderedDict
        return [(str(k), v) for k, v in out.items() if v is not None]
    if isinstance(out, (tuple, list)):
        return [(str(i), v) for i, v in enumerate(out)]
    return []


def describe(out) -> str:
    if torch.is_tensor(out):
        return f"one tensor {tuple(out.shape)}"
    return ", ".join(f"{k} {tuple(v.shape) if torch.is_tensor(v) else type(v).__name__}" for k, v in _items(out))


def pick(out, key: str | None):
    if torch.is_tensor(out):
        if key not in (None, "0", "logits"):
            raise EdgecvError(f"--class-output {key}: the model returns one tensor", "leave --class-output out")
        return out
    items = _items(out)
    if not items:
        raise EdgecvError(f"the model returns {type(out).__name__}, not tensors", "return the class scores")
    if key is None:
        named = dict(items)
        value = named.get("logits", items[0][1])
    elif key.isdigit() and int(key) < len(items):
        value = items[int(key)][1]
    elif key in dict(items):
        value = dict(items)[key]
    else:
        raise EdgecvError(f"--class-output {key} is not among the model's outputs ({describe(out)})",
                          "pass one of those names or indices")
    if not torch.is_tensor(value):
        raise EdgecvError(f"output {key or 0} is {type(value).__name__}, not a tensor ({describe(out)})",
                          "pass --class-output NAME|INDEX of the class scores")
    return value


def default_choice(out) -> str | None:
    """The sentence that says which output the default took, when there was a choice."""
    items = _items(out)
    if torch.is_tensor(out) or len(items) <= 1:
        return None
    key = "logits" if "logits" in dict(items) else items[0][0]
    return f"the model has {len(items)} outputs ({describe(out)}); using {key!r} as class scores " \
           f"(--class-output NAME|INDEX picks another)"


def index_of(out, key: str | None) -> tuple[int, int]:
    """(position of the class scores among the flattened outputs, number of outputs)."""
    if torch.is_tensor(out):
        return 0, 1
    items = _items(out)
    chosen = pick(out, key)
    return next(i for i, (_, v) in enumerate(items) if v is chosen), len(items)


class SelectOutput(nn.Module):
    """``model`` with its output reduced to the one class-score tensor (exported as ``logits``)."""

    def __init__(self, model: nn.Module, key: str | None):
        super().__init__()
        self.model = model
        self.key = key

    def forward(self, x):
        return pick(self.model(x), self.key)


class Frozen(nn.Module):
    """A module whose train/eval mode cannot change (``torch.export``'s graph modules refuse
    ``.eval()``; they were exported in the mode they run in)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)

    def train(self, mode: bool = True):
        return self
