"""Export passes: small, separately tested functions applied before tracing.

``MODULE_PASSES`` rewrite the module in place and return how many places they changed;
``TRACE_CONTEXTS`` are active while the model is traced.  A new dynamic operator is one more entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edgecv.exporters.passes.msff import fold_msff
from edgecv.exporters.passes.odconv import MODES as ODCONV_MODES, rewrite_odconv
from edgecv.exporters.passes.sdpa import fold_sdpa_batch_dims
from edgecv.exporters.passes.swin import swin_windows


@dataclass
class PassOptions:
    odconv_mode: str = "scan"
    odconv_temperature: float | None = 1.0
    fold_msff: bool = True


MODULE_PASSES: list[tuple[str, Callable]] = [
    ("fold_msff", lambda m, o: fold_msff(m) if o.fold_msff else 0),
    ("rewrite_odconv", lambda m, o: rewrite_odconv(m, o.odconv_mode, o.odconv_temperature)),
]
TRACE_CONTEXTS: list[tuple[str, Callable]] = [
    ("fold_sdpa_batch_dims", fold_sdpa_batch_dims),
    ("swin_windows", swin_windows),
]


def passes_apply(model) -> bool:
    """Whether any module pass would change ``model`` (only then does export rewrite a copy of it:
    a model nothing rewrites is traced as it is, one copy of its weights fewer)."""
    from edgecv.exporters.passes.msff import _foldable
    from edgecv.exporters.passes.odconv import is_odconv

    return any(is_odconv(m) or _foldable(m) for m in model.modules())


def apply_module_passes(model, options: PassOptions) -> dict[str, int]:
    """Run every module pass on an eval() model; returns {pass name: places changed}."""
    return {name: fn(model, options) for name, fn in MODULE_PASSES}


__all__ = ["PassOptions", "apply_module_passes", "passes_apply", "MODULE_PASSES", "TRACE_CONTEXTS", "ODCONV_MODES"]
