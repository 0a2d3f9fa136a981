import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SAMPLE_MODEL = SAMPLES / "digits_fusion_cnn.pt"

# Under pytest-xdist each worker gets one intra-op thread, so workers do not oversubscribe the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2")


def has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    reasons = {}
    try:
        import tensorrt  # noqa: F401
        trt_ok = has_cuda()
        trt_reason = "no CUDA device"
    except Exception:  # noqa: BLE001 - the PyPI stub raises at import without network
        trt_ok, trt_reason = False, "tensorrt does not import on this machine"
    if not has_cuda():
        reasons["gpu"] = "no CUDA device on this machine"
    if not trt_ok:
        reasons["tensorrt"] = trt_reason
    for item in items:
        for mark, why in reasons.items():
            if mark in item.keywords:
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def sample_model() -> Path:
    assert SAMPLE_MODEL.exists(), "samples/digits_fusion_cnn.pt is committed; run samples/make_samples.py"
    return SAMPLE_MODEL


@pytest.fixture(scope="session")
def sample_onnx(tmp_path_factory, sample_model) -> Path:
    """The sample model exported once per session with the real exporter."""
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx

    out = tmp_path_factory.mktemp("onnx") / "digits.onnx"
    export_onnx(sample_model, ExportOptions(output=out))
    return out


@pytest.fixture(scope="session")
def digit_images() -> list[Path]:
    return sorted((SAMPLES / "digits").rglob("*.png"))


@pytest.fixture(scope="session")
def zoo_export(tmp_path_factory):
    """``zoo_export(name, size)`` -> (checkpoint, ONNX export result): a zoo model with random weights
    saved as an edgecv checkpoint and exported with the defaults, once per session (exports cost
    seconds of tracing each; tests that read the same export share it)."""
    import torch

    from edgecv.exporters.onnx_export import ExportOptions, export_onnx
    from edgecv.loaders.checkpoint import save_checkpoint
    from edgecv.models import create_model, default_spec
    from edgecv.spec import scale_resize

    cache = {}

    def get(name: str, size: int | None = None, num_classes: int = 10):
        key = (name, size, num_classes)
        if key not in cache:
            torch.manual_seed(0)
            d = tmp_path_factory.mktemp(name)
            spec = default_spec(name, num_classes=num_classes)
            if size:  # trained at this size: the checkpoint says so, as edgecv train's would
                spec.resize = scale_resize(spec.resize, spec.input_size, (size, size))
                spec.input_size = (size, size)
            ck = save_checkpoint(d / f"{name}.pt", create_model(name, num_classes=num_classes).eval(), spec)
            cache[key] = ck, export_onnx(ck, ExportOptions())
        return cache[key]

    return get
