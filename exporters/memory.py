"""Will the export fit in memory?  Said before tracing, not by the kernel's OOM killer after it.

Measured on vit_b_16 (343 MB of weights; `python benchmarks/export_memory.py`): on top of the loaded
model, the export's peak is the ONNX graph (one copy of the weights) plus protobuf's serialization
of it (about four more, transient: upb grows its buffer by doubling, then copies it out).  Past
2 GB the weights go to an external-data file tensor by tensor, so that transient disappears, and
ONNX Runtime's session (one or two copies) is the peak while validating.
"""
from __future__ import annotations

import torch

from edgecv.errors import EdgecvError

GB = 1e9
SINGLE_FILE_LIMIT = 2**31 - 1 - 2**26  # protobuf's 2 GB, less room for the graph itself
COPIES_SINGLE_FILE = 4.0  # lower bounds, in copies of the weights beyond the loaded model: refuse only
COPIES_EXTERNAL = 2.0  # what cannot fit, never what might


def weights_bytes(model: torch.nn.Module) -> int:
    seen, total = set(), 0
    for t in [*model.parameters(), *model.buffers()]:
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def needed_bytes(weights: int) -> int:
    return int(weights * (COPIES_SINGLE_FILE if weights <= SINGLE_FILE_LIMIT else COPIES_EXTERNAL))


def check_export_fits(model: torch.nn.Module, name: str, available: int | None = None) -> int:
    """Raise a one-line error when exporting ``model`` cannot fit in the memory available now;
    returns the weights' size in bytes."""
    weights = weights_bytes(model)
    available = available_bytes() if available is None else available
    need = needed_bytes(weights)
    if available is not None and need > available:
        raise EdgecvError(
            f"{name} has {weights / GB:.1f} GB of weights; exporting it needs at least {need / GB:.1f} GB more "
            f"memory and {available / GB:.1f} GB is available",
            "close other programs or export on a machine with more memory")
    return weights
