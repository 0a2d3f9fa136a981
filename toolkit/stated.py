"""What the user states about a model, in the words the CLI and the Python API share (torch-free):
torchvision-named preprocessing options, builder arguments, labels.  ``edgecv export --resize 256``
and ``edgecv.export(..., resize=256)`` go through the same parsing."""
from __future__ import annotations

import json

from edgecv.errors import EdgecvError


def parse_resize(value):
    """``256`` / ``"256"``: Resize(256), the shorter side; ``"48,48"`` / ``(48, 48)``: Resize((48, 48));
    ``"none"``: straight to the input size; ``None``: not stated."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() == "none":
            return "none"
        try:
            parts = [int(p) for p in value.replace("x", ",").split(",") if p.strip()]
        except ValueError:
            parts = []
    elif isinstance(value, int):
        parts = [value]
    else:
        try:
            parts = [int(p) for p in value]
        except (TypeError, ValueError):
            parts = []
    if len(parts) not in (1, 2) or min(parts) <= 0:
        raise EdgecvError(f"--resize {value!r} is not N, H,W or none", "e.g. --resize 256 or --resize 48,48")
    return parts[0] if len(parts) == 1 else tuple(parts)


def parse_kwargs(items) -> dict:
    """``["kernel_num=4"]`` (``--model-arg``, values parsed as JSON when they can be) or a dict."""
    if isinstance(items, dict):
        return dict(items)
    kwargs = {}
    for item in items or []:
        if "=" not in item:
            raise EdgecvError(f"model argument {item!r} is not KEY=VALUE")
        k, v = item.split("=", 1)
        try:
            kwargs[k] = json.loads(v)
        except json.JSONDecodeError:
            kwargs[k] = v
    return kwargs


def stated_spec(imgsz=None, resize=None, mean=None, std=None, interpolation=None, channel_order=None,
                labels=None, scores=None, exif_transpose=None, high_bit_depth=None) -> dict:
    """Spec fields the user stated (unstated ones left out).  ``labels``: a list, or a file / folder
    ``edgecv.labels.read_labels`` reads.  Three equal --mean / --std values for a GRAY model become one
    in ``loaders.finish.apply_stated``."""
    from pathlib import Path

    from edgecv.labels import read_labels

    r = parse_resize(resize)
    if r == "none":
        if not imgsz:
            raise EdgecvError("--resize none needs --imgsz H W (the size to resize to)")
        r = tuple(imgsz)  # Resize((H, W)) straight to the input
    order = channel_order.upper() if channel_order else None
    if isinstance(labels, (str, Path)):
        labels = read_labels(Path(labels))
    d = {"input_size": tuple(imgsz) if imgsz else None, "resize": r, "interpolation": interpolation,
         "channel_order": order,
         "mean": tuple(mean) if mean else None, "std": tuple(std) if std else None, "scores": scores,
         "exif_transpose": exif_transpose, "high_bit_depth": high_bit_depth,
         "labels": list(labels) if labels is not None else None}
    return {k: v for k, v in d.items() if v is not None}
