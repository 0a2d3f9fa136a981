"""The one torch reference: an eager model as a numpy function (build side).

Export validation, ``edgecv verify``, the per-layer search and the torch runtime all call the model
through this, so "what torch says" is computed one way everywhere.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from edgecv.runtimes.pipeline.classify import in_batches


def logits_of(out) -> torch.Tensor:
    """Hugging Face models return an output object; the class scores are its ``logits``."""
    return out.logits if hasattr(out, "logits") else out


class TorchReference:
    """``ref(x: float32 (N, C, H, W)) -> logits`` as numpy, under ``inference_mode``.

    ``fp64=True`` runs a float64 *copy* (float64 numpy out): the caller's module is never converted
    in place, so per-layer comparisons can keep using it in float32."""

    def __init__(self, model: torch.nn.Module, fp64: bool = False, device: str = "cpu",
                 fixed_batch: int | None = None):
        self.fp64 = fp64
        self.device = device
        self.fixed_batch = fixed_batch  # a model traced for one batch size (static .pt2): run in chunks
        self.model = copy.deepcopy(model).double() if fp64 else model

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.fixed_batch and len(x) != self.fixed_batch:
            return in_batches(self._run, x, self.fixed_batch)
        return self._run(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x)
        t = t.double() if self.fp64 else t
        with torch.inference_mode():
            out = logits_of(self.model(t.to(self.device)))
        return out.double().cpu().numpy() if self.fp64 else out.float().cpu().numpy()
