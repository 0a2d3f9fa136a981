"""Facts a foreign model does not carry, read from the model itself (build side).

Channels come from the first 4-D weight; the input size from a ``.pt2``'s example input, else from
probe forwards: the spec's size first, then sizes that a ``mat1 and mat2`` error implies, then
common ones.  A model that accepts two different sizes (global pooling) does not determine its size:
that stays *assumed* and is said so.
"""
from __future__ import annotations

import math
import re

import torch

COMMON_SIZES = (224, 32, 28, 48, 64, 96, 112, 128, 160, 192, 256, 299, 384, 8, 16)


def input_channels(model) -> int | None:
    for p in model.parameters():
        if p.ndim == 4:
            return int(p.shape[1])
    return None


def forward(model, channels: int, size, batch: int = 2):
    """(the model's raw output, None) or (None, one-line reason)."""
    x = torch.zeros(batch, channels, *size)
    try:
        with torch.inference_mode():
            raw = model(x)
    except Exception as e:  # noqa: BLE001 - whatever the user's forward raises
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"{type(e).__name__}: {first[:200]}"
    return raw, None


def _implied_sizes(reason: str, size) -> list[tuple[int, int]]:
    """``mat1 and mat2 shapes cannot be multiplied (2x18432 and 2304x2)``: the flattened features
    scale with H x W, so the expected side is size x sqrt(2304 / 18432)."""
    m = re.search(r"\(\d+x(\d+) and (\d+)x\d+\)", reason)
    if not m:
        return []
    got, want = int(m.group(1)), int(m.group(2))
    f = math.sqrt(want / got)
    h, w = round(size[0] * f), round(size[1] * f)  # strides and padding blur it: try the neighbours
    return [(h + d, w + d) for d in (0, 1, 2, -1, -2, 3, 4) if min(h + d, w + d) > 0]


def infer_input_size(model, channels: int, start, batch: int = 2):
    """(size, provenance, raw output or None, note).  provenance: ``inferred`` when exactly the found
    size works, ``assumed`` when the model takes any size, ``None`` when nothing worked."""
    start = tuple(start)
    out, reason = forward(model, channels, start, batch)
    tried = [start]
    if out is None:
        for cand in _implied_sizes(reason, start) + [(s, s) for s in COMMON_SIZES]:
            if cand in tried:
                continue
            tried.append(cand)
            out, _ = forward(model, channels, cand, batch)
            if out is not None:
                return cand, "inferred", out, f"input size {cand[0]}x{cand[1]} inferred by a probe forward"
        return start, None, None, reason
    other = (start[0] * 3 // 4 or 1, start[1] * 3 // 4 or 1)
    if forward(model, channels, other, batch)[0] is not None:
        return start, "assumed", out, (f"the model accepts any input size; assumed {start[0]}x{start[1]} "
                                       "(state it with --imgsz H W)")
    return start, "inferred", out, f"input size {start[0]}x{start[1]} confirmed by a probe forward"
