"""The exported file against the torch model it came from: random batches and real photos, through
``edgecv.runtimes`` (ONNX Runtime, CPU) on one side and torch on the other.

``reference_instability`` tells an unstable model from a bad export: when torch's own float32 and
float64 answers differ by more than the tolerance (random weights, exploding activations), an
export cannot be held to float32 torch, and is held to float64 torch instead.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgecv.errors import EdgecvError, RuntimeFailure
from edgecv.exporters.export_options import Validation
from edgecv.parity import Tolerance
from edgecv.spec import ModelSpec

def validation_inputs(spec: ModelSpec, batches: list[int], notes: list[str]) -> list[tuple[str, np.ndarray]]:
    from edgecv.assets import sample_photos

    rng = np.random.default_rng(0)
    c, (h, w) = spec.channels, spec.input_size
    cases = [(f"random b={b}", rng.standard_normal((b, c, h, w)).astype(np.float32)) for b in batches]
    photos = sample_photos()
    if not photos:
        notes.append("no real photos to validate on (edgecv installed without samples/): random inputs only; "
                     "run `edgecv verify --images DIR` for real images")
        return cases
    from PIL import Image

    from edgecv.training.transforms import eval_transform

    tf = eval_transform(spec)
    x = torch.stack([tf(Image.open(p)) for p in photos]).numpy()
    b = batches[-1]
    x = np.resize(x, (b, *x.shape[1:])) if len(x) != b and batches == [b] else x
    cases.append((f"photos b={len(x)}", x.astype(np.float32)))
    return cases


def validate_onnx(path, model, spec: ModelSpec, batches: list[int], tol: Tolerance,
                  fp64: bool = False) -> Validation:
    """Run the file through ``edgecv.runtimes`` (ONNX Runtime, CPU) against the torch reference
    (``fp64``: a float64 copy of it).  An input the file cannot run is a failed row, not a crash.
    What could not be checked goes to the result's ``notes``, not to a warning: an export validates
    several candidate files, and the caller warns once for the one it keeps."""
    from edgecv.loaders.reference import TorchReference
    from edgecv.runtimes import load

    ref = TorchReference(model, fp64=fp64)
    val = Validation()
    answers = []
    with load(path, "onnxruntime", providers=["cpu"]) as rt:
        for name, x in validation_inputs(spec, batches, val.notes):
            try:
                got = rt.infer(x)
            except RuntimeFailure as e:
                val.errors.append((name, str(e).splitlines()[0][:300]))
                continue
            answers.append(ref(x))
            val.rows.append((name, tol(answers[-1], got)))
    if input_independent(answers):
        val.notes.append(f"the torch model gives the same answer for all {sum(len(a) for a in answers)} inputs, so "
                         "this check cannot tell a right file from a wrong one (a zero-initialised head, or "
                         "activations that vanish with random weights?); validate with trained weights")
    return val


def input_independent(answers: list[np.ndarray]) -> bool:
    """Whether every row of the reference's answers is the same (all zeros, say): a comparison of such
    answers says nothing about the file."""
    if sum(len(a) for a in answers) < 2:
        return False
    rows = np.concatenate([np.asarray(a, np.float64).reshape(len(a), -1) for a in answers])
    return bool(np.abs(rows - rows[0]).max() <= 1e-6 * (np.abs(rows).max() + 1e-30))


def validate_in_release(path, model, spec: ModelSpec, batch: int, tol: Tolerance, release: str) -> Validation:
    """The file run in another ONNX Runtime release (``targets_env``) against the torch reference."""
    from edgecv.exporters.targets_env import run_in_release
    from edgecv.loaders.reference import TorchReference

    ref = TorchReference(model)
    val = Validation()
    for name, x in validation_inputs(spec, [batch], val.notes):
        try:
            got, _ = run_in_release(release, Path(path), x)
        except EdgecvError as e:
            val.errors.append((name, e.message))
            continue
        val.rows.append((name, tol(ref(x), got)))
    return val


def reference_instability(model, spec: ModelSpec, batches: list[int], tol: Tolerance) -> float | None:
    """Max abs difference between torch's float32 and float64 answers on the validation inputs when
    it is beyond the tolerance (the model is numerically unstable), else None."""
    from edgecv.loaders.reference import TorchReference

    ref32, ref64 = TorchReference(model), TorchReference(model, fp64=True)
    worst, unstable = 0.0, False
    for _, x in validation_inputs(spec, batches, []):
        c = tol(ref64(x), ref32(x))
        worst, unstable = max(worst, c.max_abs), unstable or not c
    return worst if unstable else None
