"""Builder arguments that a zoo model's weights determine (build side).

The number of classes: build the architecture twice on the meta device (no memory) with 2 and 3
classes; the tensors whose shape changes are the head, and the weights' own head gives the count.
Family-specific arguments (ODConv's ``kernel_num``) come from the entry's ``infer`` function.
"""
from __future__ import annotations

import torch

from edgecv.errors import EdgecvError


def _shapes(arch: str, n: int, kwargs: dict) -> dict:
    from edgecv.models import create_model

    try:
        with torch.device("meta"):
            m = create_model(arch, num_classes=n, **kwargs)
    except (NotImplementedError, RuntimeError):  # builders that copy data at init
        m = create_model(arch, num_classes=n, **kwargs)
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}


def head_keys(build_shapes) -> list[tuple[str, int]]:
    """(key, dim) of every tensor whose size follows the number of classes."""
    a, b = build_shapes(2), build_shapes(3)
    out = []
    for k, sa in a.items():
        sb = b.get(k)
        if sb is not None and sa != sb:
            dim = next(i for i, (x, y) in enumerate(zip(sa, sb)) if x != y)
            if (sa[dim], sb[dim]) == (2, 3):
                out.append((k, dim))
    return out


def classes_from_weights(sd: dict, keys: list[tuple[str, int]]) -> int | None:
    counts = {int(sd[k].shape[d]) for k, d in keys if k in sd and sd[k].ndim > d}
    return counts.pop() if len(counts) == 1 else None


def infer_build_args(arch: str, sd: dict, num_classes: int | None, kwargs: dict):
    """(num_classes, kwargs, names of what was inferred) for ``create_model(arch, ...)``."""
    from edgecv.models import get_entry

    entry = get_entry(arch)
    inferred = []
    if entry.infer is not None:
        for k, v in entry.infer(sd).items():
            if k not in kwargs:
                kwargs[k] = v
                inferred.append(k)
    if num_classes is None:
        try:
            num_classes = classes_from_weights(sd, head_keys(lambda n: _shapes(arch, n, kwargs)))
        except Exception:  # noqa: BLE001 - an exotic builder: fall back to the last 2-D weight
            num_classes = None
        if num_classes is None:
            last = [v for k, v in sd.items() if k.endswith("weight") and v.ndim == 2]
            num_classes = int(last[-1].shape[0]) if last else None
        if num_classes is None:
            raise EdgecvError(f"the weights do not say how many classes {arch} has", "pass --num-classes N")
        inferred.append("num_classes")
    return int(num_classes), kwargs, inferred
