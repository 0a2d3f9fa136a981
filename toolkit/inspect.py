"""``edgecv info``: describe a checkpoint or a model file as a plain dict."""
from __future__ import annotations

from pathlib import Path

from edgecv.errors import EdgecvError


def describe(path, arch=None, num_classes=None, unsafe=False) -> dict:
    path = Path(path)
    if not path.exists():
        raise EdgecvError(f"{path} does not exist")
    if path.suffix.lower() == ".onnx":
        from edgecv.runtimes.onnx_meta import describe_onnx

        return describe_onnx(path)
    try:
        from edgecv.checkpoint import load_model
    except ImportError:
        raise EdgecvError(f"reading {path.name} needs torch", "pip install 'edgecv[export]'") from None
    lm = load_model(path, arch=arch, num_classes=num_classes, unsafe=unsafe)
    params = sum(p.numel() for p in lm.model.parameters()) if hasattr(lm.model, "parameters") else None
    return {"file": str(path), "kind": lm.kind, "sha256": lm.sha256, "arch": lm.spec.arch,
            "num_classes": lm.spec.num_classes, "parameters": params, "labels": lm.spec.labels,
            "spec": lm.spec.to_dict(), "meta": lm.meta}
