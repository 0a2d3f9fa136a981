"""The Runtime contract (Polygraphy style): a backend implements only activate / infer_impl /
deactivate; the public ``infer`` checks the batch against the model's inputs first."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecv.errors import EdgecvError, RuntimeFailure
from edgecv.spec import ModelSpec


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple  # ints, or None / a name for dynamic dimensions
    dtype: np.dtype

    @property
    def static_batch(self) -> int | None:
        b = self.shape[0] if self.shape else None
        return b if isinstance(b, int) and b > 0 else None


class Runtime:
    """Context-managed model runner: ``with load(path) as rt: logits = rt.infer(batch)``."""

    backend = "base"

    def __init__(self, path, spec: ModelSpec | None = None):
        self.path = path
        self.spec: ModelSpec | None = spec
        self.inputs: list[TensorInfo] = []
        self.outputs: list[TensorInfo] = []
        self.name = self.backend
        self.active = False
        self.threads: int | None = None  # CPU threads one inference uses (None: not a CPU backend)

    # -- what a backend implements -------------------------------------------------------------
    def activate_impl(self):
        raise NotImplementedError

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def deactivate_impl(self):
        pass

    # -- the public contract ---------------------------------------------------------------------
    def activate(self) -> "Runtime":
        if not self.active:
            self.activate_impl()
            self.active = True
        return self

    def deactivate(self):
        if self.active:
            self.deactivate_impl()
            self.active = False

    def __enter__(self):
        return self.activate()

    def __exit__(self, *exc):
        self.deactivate()

    def check(self, batch: np.ndarray) -> None:
        if not isinstance(batch, np.ndarray):
            raise EdgecvError(f"{self.name}: infer takes a numpy array, got {type(batch).__name__}")
        inp = self.inputs[0]
        if batch.dtype != inp.dtype:
            raise EdgecvError(f"{self.name}: input dtype {batch.dtype} is not the model's {inp.dtype}")
        if batch.ndim != len(inp.shape):
            raise EdgecvError(f"{self.name}: input rank {batch.ndim} {batch.shape} is not the model's "
                              f"{len(inp.shape)} {tuple(inp.shape)}")
        for axis, (got, want) in enumerate(zip(batch.shape, inp.shape)):
            if isinstance(want, int) and want > 0 and got != want:
                what = {0: "batch", 1: "channels"}.get(axis, "size")
                raise EdgecvError(f"{self.name}: input {what} {got} (shape {batch.shape}) does not match "
                                  f"the model's {want} (shape {tuple(inp.shape)})")

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 -> (N, classes) logits, after checking dtype, rank, channels, size.
        Bad input raises ``EdgecvError``; the backend failing raises ``RuntimeFailure``."""
        if not self.active:
            raise EdgecvError(f"{self.name}: runtime is not active; use `with load(...) as rt:`")
        self.check(batch)
        try:
            return self.infer_impl(np.ascontiguousarray(batch))
        except EdgecvError:
            raise
        except Exception as e:  # noqa: BLE001 - a backend failing mid-graph: exit 1, one line
            first = str(e).splitlines()[0][:300] if str(e) else ""
            raise RuntimeFailure(f"{self.name} failed: {type(e).__name__}: {first}") from e

    def classify(self, images, topk: int = 5, batch_size: int = 8, max_pixels: int | None = None) -> list:
        """Class predictions for ``images`` with ``edgecv run``'s decoding and preprocessing: RGB uint8
        arrays (H, W, 3) or grey ones (H, W), image files (paths), encoded bytes, or PIL images.  One
        ``Result`` per image, in order (``.topk``: [{index, label, prob}]; an unreadable file gets
        ``.error`` instead, and the rest go on)."""
        from edgecv.runtimes.pipeline.classify import classify_inputs

        if not self.active:
            raise EdgecvError(f"{self.name}: runtime is not active; use `with load(...) as rt:`")
        return classify_inputs(self, images, topk=topk, batch_size=batch_size, max_pixels=max_pixels)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} {self.path}>"
