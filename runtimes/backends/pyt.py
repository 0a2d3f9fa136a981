"""torch backend (build side): edgecv checkpoints, state_dicts, TorchScript and .pt2, CPU or CUDA."""
from __future__ import annotations

import numpy as np

from edgecv.errors import EdgecvError
from edgecv.log import warn
from edgecv.runtimes.base import Runtime, TensorInfo
from edgecv.runtimes.options import TorchOptions


class TorchRuntime(Runtime):
    backend = "torch"

    def __init__(self, path, options: TorchOptions | None = None):
        super().__init__(path)
        o = options or TorchOptions()
        try:
            import torch
        except ImportError:
            raise EdgecvError(f"running {path.name} needs torch", "pip install 'edgecv[export]', or export "
                              "it to ONNX and run that") from None
        from edgecv.loaders.checkpoint import load_model

        self._torch = torch
        self.loaded = load_model(path, arch=o.arch, num_classes=o.num_classes, unsafe=o.unsafe_load)
        self.spec = self.loaded.spec
        device = o.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            warn("CUDA requested but not available; falling back to cpu")
            device = "cpu"
        self.device = device
        s = self.spec
        self.inputs = [TensorInfo("input", (None, s.channels, *s.input_size), np.dtype(np.float32))]
        self.outputs = [TensorInfo("logits", (None, s.num_classes), np.dtype(np.float32))]

    def activate_impl(self):
        from edgecv.loaders.reference import TorchReference

        model = self.loaded.model.to(self.device)
        try:
            model.eval()
        except (NotImplementedError, RuntimeError):  # exported programs refuse .eval()
            pass
        self.reference = TorchReference(model, device=self.device)
        self.name = f"torch/{self.device}"
        self.threads = self._torch.get_num_threads() if self.device == "cpu" else None

    def infer_impl(self, batch):
        return self.reference(batch)

    def deactivate_impl(self):
        self.reference = None
