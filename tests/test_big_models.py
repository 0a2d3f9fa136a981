"""Models past ONNX's 2 GB protobuf limit, and models that cannot fit in memory, on tiny stand-ins: the
limit and the available memory are lowered, the code paths are the real ones (external-data files,
the memory check before tracing)."""
import numpy as np
import pytest
import torch

import edgecv
import edgecv.exporters.onnx_export as ex
from edgecv.errors import CheckFailed, EdgecvError

STATED = dict(imgsz=(16, 16), resize="none", mean=(0.5,) * 3, std=(0.5,) * 3, interpolation="bilinear",
              channel_order="RGB")


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(16, 4)).eval()


def _data_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".data"))


def test_past_the_limit_the_weights_go_to_one_external_data_file(tmp_path, monkeypatch):
    monkeypatch.setattr(ex, "SINGLE_FILE_LIMIT", 100)  # bytes: every model here is "past 2 GB"
    out = tmp_path / "big.onnx"
    model = _model()
    res = edgecv.export(model, out, **STATED).onnx
    (data,) = _data_files(tmp_path)
    assert data.startswith("big.onnx.") and ex._references(out, tmp_path / data)
    assert res.size == out.stat().st_size + (tmp_path / data).stat().st_size
    assert (tmp_path / data).stat().st_mode & 0o777 == out.stat().st_mode & 0o777  # the usual mode, like the .onnx
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    with edgecv.load(out) as rt, torch.no_grad():
        np.testing.assert_allclose(rt.infer(x), model(torch.from_numpy(x)).numpy(), atol=1e-5)

    edgecv.export(_model(1), out, **STATED)  # again over the same output: its old data file goes
    (data2,) = _data_files(tmp_path)
    assert data2 != data and ex._references(out, tmp_path / data2)

    import edgecv.exporters.validation as V

    monkeypatch.setattr(V, "validate_onnx", lambda *a, **k: _failing(*a, **k))
    with pytest.raises(CheckFailed):
        edgecv.export(_model(2), out, **STATED)
    assert _data_files(tmp_path) == [data2] and ex._references(out, tmp_path / data2)  # the good pair, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", data2]


def _failing(path, model, spec, batches, tol, fp64=False):
    from edgecv.exporters.export_options import Validation

    return Validation(errors=[("random b=1", "planted")])


def test_a_model_that_cannot_fit_is_refused_before_tracing(tmp_path, monkeypatch):
    import edgecv.exporters.memory as M
    import edgecv.exporters.trace as trace

    def never(*a, **k):
        raise AssertionError("traced")

    monkeypatch.setattr(trace, "trace_one", never)
    monkeypatch.setattr(M, "available_bytes", lambda: 100)
    monkeypatch.setattr(ex, "available_bytes", lambda: 100)
    with pytest.raises(EdgecvError, match=r"exporting it needs at least .* GB more memory and 0.0 GB is available"):
        edgecv.export(_model(), tmp_path / "m.onnx", **STATED)
    assert not list(tmp_path.iterdir())


def test_the_estimate_counts_shared_weights_once():
    from edgecv.exporters.memory import needed_bytes, weights_bytes

    m = _model()
    tied = torch.nn.Sequential(m, m)
    assert weights_bytes(tied) == weights_bytes(m) == sum(p.numel() * 4 for p in m.parameters())
    assert needed_bytes(3 * 10**9) < needed_bytes(2 * 10**9)  # past 2 GB the serialization copies go
