"""Numerical comparison of logits (numpy only, usable on the deploy side)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Comparison:
    max_abs: float
    max_rel: float  # max |a - b| / max |ref|
    rel_l2: float
    cosine: float
    top1: float  # fraction of rows whose argmax agrees
    top1_disagree_beyond_tol: int  # disagreements where the reference margin exceeds the tolerance
    top5: float
    n: int

    def ok(self, atol: float, rtol: float, scale: float) -> bool:
        return self.max_abs <= atol + rtol * scale and self.top1_disagree_beyond_tol == 0


def compare_logits(ref: np.ndarray, got: np.ndarray, tol: float = 0.0) -> Comparison:
    ref = np.asarray(ref, dtype=np.float64).reshape(len(ref), -1)
    got = np.asarray(got, dtype=np.float64).reshape(len(got), -1)
    if ref.shape != got.shape:
        raise ValueError(f"shape mismatch {ref.shape} vs {got.shape}")
    diff = np.abs(ref - got)
    scale = float(np.abs(ref).max()) or 1.0
    num = np.linalg.norm(ref - got)
    den = np.linalg.norm(ref) or 1.0
    cos = float(np.sum(ref * got) / ((np.linalg.norm(ref) * np.linalg.norm(got)) or 1.0))
    r1, g1 = ref.argmax(1), got.argmax(1)
    rows = np.arange(len(ref))
    margin = ref[rows, r1] - ref[rows, g1]  # how far the reference prefers its own top-1
    k = min(5, ref.shape[1])
    ref5 = np.argsort(-ref, axis=1)[:, :k]
    got5 = np.argsort(-got, axis=1)[:, :k]
    top5 = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ref5, got5)]))
    return Comparison(max_abs=float(diff.max(initial=0.0)), max_rel=float(diff.max(initial=0.0) / scale),
                      rel_l2=float(num / den), cosine=cos, top1=float(np.mean(r1 == g1)),
                      top1_disagree_beyond_tol=int(np.sum((r1 != g1) & (margin > 2 * tol))),
                      top5=top5, n=len(ref))
