"""torch backend (build side): edgecv checkpoints, state_dicts, TorchScript and .pt2, CPU or CUDA."""
from __future__ import annotations

import sys

import numpy as np

from edgecv.errors import EdgecvError
from edgecv.runtimes.base import Runtime, TensorInfo


class TorchRuntime(Runtime):
    backend = "torch"

    def __init__(self, path, device: str = "auto", arch=None, num_classes=None, unsafe_load=False):
        super().__init__(path)
        try:
            import torch
        except ImportError:
            raise EdgecvError(f"running {path.name} needs torch", "pip install 'edgecv[export]', or export "
                              "it to ONNX and run that") from None
        from edgecv.checkpoint import load_model

        self._torch = torch
        self.loaded = load_model(path, arch=arch, num_classes=num_classes, unsafe=unsafe_load)
        self.spec = self.loaded.spec
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            print("warning: CUDA requested but not available; falling back to cpu", file=sys.stderr)
            device = "cpu"
        self.device = device
        s = self.spec
        self.inputs = [TensorInfo("input", (None, s.channels, *s.input_size), np.dtype(np.float32))]
        self.outputs = [TensorInfo("logits", (None, s.num_classes), np.dtype(np.float32))]

    def activate_impl(self):
        self.model = self.loaded.model.to(self.device)
        try:
            self.model.eval()
        except (NotImplementedError, RuntimeError):  # exported programs refuse .eval()
            pass
        self.name = f"torch/{self.device}"

    def infer_impl(self, batch):
        torch = self._torch
        with torch.inference_mode():
            out = self.model(torch.from_numpy(batch).to(self.device))
        out = out.logits if hasattr(out, "logits") else out
        return out.float().cpu().numpy()

    def deactivate_impl(self):
        self.model = None
