"""The parity engine (numpy only, usable on the deploy side): a ``Tolerance`` judges a candidate's
logits against a reference's and returns a truthy ``Comparison`` (Polygraphy's ``CompareFunc`` +
``OutputCompareResult.__bool__`` in spirit), so ``assert tol(ref, got)`` reads naturally.

Export validation, ``edgecv verify`` (random inputs and real images end to end) and the per-layer
search all judge through it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """What a candidate may differ by.

    - ``atol + rtol * max|ref|`` bounds every element (``atol=None``: no element bound);
    - ``min_top1``: the fraction of rows whose top-1 must agree with the reference.  With
      ``forgive_ties`` a disagreement on a row whose reference margin lies within the element
      bound (a near-tie the bound itself allows to flip) does not count: that is the fp32 rule
      ("no real flip").  Lower precisions count every flip against their ``min_top1`` instead
      (a flip beyond the tie margin always breaks the element bound, so a forgiving rule would
      never look at top-1 agreement at all).
    """

    atol: float | None = 1e-4
    rtol: float = 1e-3
    min_top1: float = 1.0
    forgive_ties: bool = True
    name: str = "fp32"
    max_rel_l2: float | None = None  # ||got - ref|| / ||ref|| (fp16's criterion), None: not checked

    def bound(self, ref: np.ndarray) -> float:
        """The element bound ``atol + rtol * max|ref|`` for this reference."""
        return (self.atol or 0.0) + self.rtol * (float(np.abs(ref).max(initial=0.0)) or 1.0)

    def with_overrides(self, atol: float | None = None, rtol: float | None = None) -> "Tolerance":
        return replace(self, atol=self.atol if atol is None else atol, rtol=self.rtol if rtol is None else rtol)

    def __call__(self, ref, got) -> "Comparison":
        ref = np.asarray(ref, dtype=np.float64).reshape(len(ref), -1)
        got = np.asarray(got, dtype=np.float64).reshape(len(got), -1)
        if ref.shape != got.shape:
            raise ValueError(f"shape mismatch {ref.shape} vs {got.shape}")
        scale = float(np.abs(ref).max(initial=0.0)) or 1.0
        bound = self.bound(ref)
        max_abs = float(np.abs(ref - got).max(initial=0.0))
        cos = float(np.sum(ref * got) / ((np.linalg.norm(ref) * np.linalg.norm(got)) or 1.0))
        rows = np.arange(len(ref))
        r1, g1 = ref.argmax(1), got.argmax(1)
        margin = ref[rows, r1] - ref[rows, g1]  # how far the reference prefers its own top-1
        tie = 2 * bound if self.forgive_ties and self.atol is not None else 0.0
        k = min(5, ref.shape[1])
        ref5, got5 = np.argsort(-ref, axis=1)[:, :k], np.argsort(-got, axis=1)[:, :k]
        top5 = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ref5, got5)])) if len(ref) else 1.0
        return Comparison(tolerance=self, bound=bound, scale=scale, max_abs=max_abs, max_rel=max_abs / scale,
                          rel_l2=float(np.linalg.norm(ref - got) / (np.linalg.norm(ref) or 1.0)), cosine=cos,
                          top1=float(np.mean(r1 == g1)) if len(ref) else 1.0,
                          top1_disagreements=int(np.sum((r1 != g1) & (margin > tie))), top5=top5, n=len(ref))


@dataclass(frozen=True)
class Comparison:
    tolerance: Tolerance
    bound: float  # the element bound atol + rtol * max|ref| that applied
    scale: float  # max |ref|
    max_abs: float
    max_rel: float  # max |a - b| / max |ref|
    rel_l2: float
    cosine: float
    top1: float  # fraction of rows whose argmax agrees
    top1_disagreements: int  # disagreements that count (near-ties excepted where forgiven)
    top5: float
    n: int

    @property
    def within_bound(self) -> bool:
        return self.tolerance.atol is None or self.max_abs <= self.bound

    @property
    def top1_ok(self) -> bool:
        return 1.0 - self.top1_disagreements / max(self.n, 1) >= self.tolerance.min_top1

    @property
    def rel_l2_ok(self) -> bool:
        return self.tolerance.max_rel_l2 is None or self.rel_l2 <= self.tolerance.max_rel_l2

    def __bool__(self) -> bool:
        return self.within_bound and self.top1_ok and self.rel_l2_ok

    @property
    def reason(self) -> str:
        """Why it failed ('' when it passed)."""
        parts = []
        if not self.within_bound:
            t = self.tolerance
            parts.append(f"max abs {self.max_abs:.3g} > {t.atol} + {t.rtol} x {self.scale:.3g}")
        if not self.rel_l2_ok:
            parts.append(f"rel L2 {self.rel_l2:.3g} > {self.tolerance.max_rel_l2}")
        if not self.top1_ok:
            parts.append(f"top-1 agreement {1 - self.top1_disagreements / max(self.n, 1):.0%} "
                         f"< {self.tolerance.min_top1:.0%}")
        return ", ".join(parts)


# Tolerances by candidate precision, on logits against the float32 torch reference.
# fp16: relative L2 error below 1e-2 (an element bound would fail on large-logit models for
# harmless rounding).  int8 is calibrated on real images: on random inputs its numbers are
# only judged for gross breakage (top-1 agreement >= 80%); it is judged end to end on real
# images (top-1 agreement >= 99%, the INT8 goal).
TOLERANCES = {
    "fp32": Tolerance(1e-4, 1e-3, 1.0, name="fp32"),
    "fp16": Tolerance(None, 0.0, 0.99, forgive_ties=False, name="fp16", max_rel_l2=1e-2),
    "int8": Tolerance(None, 0.0, 0.8, forgive_ties=False, name="int8"),
}
_E2E_MIN_TOP1 = {"fp32": 1.0, "fp16": 0.99, "int8": 0.99}
# Real images end to end (each side's own preprocessing): rounding of one grey level is legitimate
# there, a wrong mean/std or channel order is not.  Relative to max |logit|; no near-tie forgiven.
E2E_MAX_REL = 2e-2


def end_to_end(precision: str) -> Tolerance:
    if precision == "int8":  # quantization noise is not bounded per element: judged by top-1
        return Tolerance(None, 0.0, _E2E_MIN_TOP1["int8"], forgive_ties=False, name="int8 e2e")
    return Tolerance(0.0, E2E_MAX_REL, _E2E_MIN_TOP1[precision], forgive_ties=False, name=f"{precision} e2e")
