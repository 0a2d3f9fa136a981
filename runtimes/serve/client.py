"""A small tritonclient wrapper for ``edgecv serve``: send encoded images, get ``run --json`` records.

    from edgecv.runtimes.serve.client import TritonImageClient
    with TritonImageClient("127.0.0.1:8000", "digits_fusion_cnn") as client:
        for record in client.classify(["a.jpg", "b.png"]):
            print(record)           # {"source": "a.jpg", "topk": [{"index", "label", "prob"}, ...]}

``protocol="grpc"`` talks to the gRPC port (8001) instead of HTTP (8000).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecv.errors import EdgecvError

OUTPUTS = ("topk_index", "topk_prob", "topk_label", "error")


class TritonImageClient:
    def __init__(self, url: str, model: str, protocol: str = "http", timeout_s: float = 60.0):
        try:
            if protocol == "grpc":
                import tritonclient.grpc as tc
            elif protocol == "http":
                import tritonclient.http as tc
            else:
                raise EdgecvError(f"protocol {protocol!r} is not http or grpc")
        except ImportError:
            raise EdgecvError("the Triton client needs tritonclient", "pip install 'edgecv[triton]'") from None
        self.tc, self.model, self.protocol, self.timeout_s = tc, model, protocol, timeout_s
        kwargs = {"network_timeout": timeout_s, "connection_timeout": timeout_s} if protocol == "http" else {}
        self.client = tc.InferenceServerClient(url, **kwargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.client.close()

    def ready(self) -> bool:
        try:
            return bool(self.client.is_server_ready() and self.client.is_model_ready(self.model))
        except Exception:  # noqa: BLE001 - connection refused while the server starts
            return False

    def infer_bytes(self, images: list[bytes]) -> dict[str, np.ndarray]:
        """One request with ``len(images)`` rows; the raw output arrays."""
        data = np.array([[b] for b in images], dtype=object)
        inp = self.tc.InferInput("image", list(data.shape), "BYTES")
        inp.set_data_from_numpy(data)
        outputs = [self.tc.InferRequestedOutput(n) for n in OUTPUTS]
        kwargs = {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}
        res = self.client.infer(self.model, [inp], outputs=outputs, **kwargs)
        return {n: res.as_numpy(n) for n in OUTPUTS}

    def classify(self, paths, batch: int = 1) -> list[dict]:
        """``run --json`` records for image files, ``batch`` images per request."""
        paths = [Path(p) for p in paths]
        records = []
        for start in range(0, len(paths), batch):
            chunk = paths[start:start + batch]
            out = self.infer_bytes([p.read_bytes() for p in chunk])
            for i, p in enumerate(chunk):
                records.append(to_record(str(p), out, i))
        return records


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def to_record(source: str, out: dict[str, np.ndarray], row: int) -> dict:
    """The ``run --json`` record for one row of a server answer."""
    error = _text(out["error"][row][0])
    if error:
        return {"source": source, "topk": [], "error": error}
    return {"source": source, "topk": [
        {"index": int(i), "label": _text(label), "prob": round(float(p), 6)}
        for i, p, label in zip(out["topk_index"][row], out["topk_prob"][row], out["topk_label"][row])]}
