"""The one torch reference: an eager model as a numpy function (build side).

Export validation, ``edgecv verify``, the per-layer search and the torch runtime all call the model
through this, so "what torch says" is computed one way everywhere.
"""
from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager

import numpy as np
import torch

from edgecv.runtimes.pipeline.classify import in_batches


def logits_of(out) -> torch.Tensor:
    """Hugging Face models return an output object; the class scores are its ``logits``."""
    return out.logits if hasattr(out, "logits") else out


@contextmanager
def full_fp32(device: str):
    """On CUDA, float32 as float32: TF32 off for cuDNN convolutions (torch's default turns it on) and
    matmuls, restored after.  TF32 keeps 10 mantissa bits: on an H200, random-weight resnet18 differed
    from the CPU by 1.0e-3 relative with it and by 1.2e-6 without (``benchmarks/gpu_check.py``), more
    than verify's tolerance, so the reference would call a faithful export wrong."""
    if not str(device).startswith("cuda"):
        yield
        return
    with warnings.catch_warnings():  # newer torch prefers its fp32_precision settings; these still apply
        warnings.simplefilter("ignore")
        saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


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
        with torch.inference_mode(), full_fp32(self.device):
            out = logits_of(self.model(t.to(self.device)))
        return out.double().cpu().numpy() if self.fp64 else out.float().cpu().numpy()
