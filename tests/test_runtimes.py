"""The Runtime contract, over every backend available here (skips say why)."""
import numpy as np
import pytest

from edgecv.errors import EdgecvError
from edgecv.runtimes import backend_for, load


def _backends():
    return [pytest.param("onnxruntime", id="onnxruntime"), pytest.param("torch", id="torch"),
            pytest.param("tensorrt", id="tensorrt", marks=pytest.mark.tensorrt)]


@pytest.fixture()
def model_file(request, sample_model, sample_onnx, tmp_path):
    backend = request.param
    if backend == "onnxruntime":
        return sample_onnx, backend
    if backend == "torch":
        return sample_model, backend
    from edgecv.exporters.trt_build import build_engine  # only reached where TensorRT runs

    return build_engine(sample_onnx, tmp_path / "digits.engine"), backend


@pytest.mark.parametrize("model_file", _backends(), indirect=True)
def test_contract(model_file):
    path, backend = model_file
    rt = load(path)
    assert rt.spec.arch == "fusion_cnn" and rt.spec.num_classes == 10
    assert rt.inputs[0].shape[1:] == (1, 28, 28)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    with pytest.raises(EdgecvError, match="not active"):
        rt.infer(x)
    with rt:
        assert rt.name.startswith(backend + "/")
        out = rt.infer(x)
        assert out.shape == (3, 10) and out.dtype == np.float32
        assert rt.infer(x[:1]).shape == (1, 10)  # dynamic batch
        with pytest.raises(EdgecvError, match="dtype"):
            rt.infer(x.astype(np.float64))
        with pytest.raises(EdgecvError, match="rank"):
            rt.infer(x[0])
        with pytest.raises(EdgecvError, match="channels"):
            rt.infer(np.zeros((1, 3, 28, 28), np.float32))
        with pytest.raises(EdgecvError, match="size"):
            rt.infer(np.zeros((1, 1, 32, 28), np.float32))


def test_torch_and_onnxruntime_agree_through_load(sample_model, sample_onnx, digit_images):
    from edgecv.runtimes.pipeline.images import read_image
    from edgecv.runtimes.pipeline.preprocess import Preprocessor

    with load(sample_model) as pt, load(sample_onnx) as ox:
        pre = Preprocessor(ox.spec)
        x = pre.batch([read_image(p) for p in digit_images])
        a, b = pt.infer(x), ox.infer(x)
    assert np.abs(a - b).max() / np.abs(a).max() < 1e-5
    assert (a.argmax(1) == b.argmax(1)).all()
    labels = np.array([int(p.parent.name) for p in digit_images])
    assert (b.argmax(1) == labels).mean() >= 0.9  # a real, trained model


def test_backend_selection_and_bad_files(tmp_path):
    assert backend_for("m.onnx") == "onnxruntime" and backend_for("m.engine") == "tensorrt"
    assert backend_for("m.pt2") == "torch"
    with pytest.raises(EdgecvError, match="suffix"):
        backend_for("m.bin")
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x01garbage")
    with pytest.raises(EdgecvError, match="not a loadable ONNX model"):
        load(tmp_path / "bad.onnx")
    with pytest.raises(EdgecvError, match="does not exist"):
        load(tmp_path / "none.onnx")


def test_provider_fallback_warns(sample_onnx, capsys):
    from edgecv.runtimes.hardware import cuda_device_count

    if cuda_device_count():
        pytest.skip("a CUDA device exists: nothing falls back")
    with load(sample_onnx, providers=["cuda", "cpu"]) as rt:
        assert rt.name == "onnxruntime/CPUExecutionProvider"
    assert "CUDAExecutionProvider no CUDA device; falling back to CPUExecutionProvider" in capsys.readouterr().err


def test_tensorrt_sidecar_logic(tmp_path):
    from edgecv.runtimes.modelfile.engine import read_sidecar, sidecar_path, write_sidecar
    from edgecv.spec import ModelSpec

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"")
    with pytest.raises(EdgecvError, match="sidecar"):
        read_sidecar(engine)
    spec = ModelSpec(arch="resnet18", num_classes=3, labels=["a", "b", "c"])
    assert write_sidecar(engine, spec) == sidecar_path(engine)
    assert read_sidecar(engine) == spec


def test_onnx_without_edgecv_spec_gets_a_guessed_spec(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=0)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 64, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), tmp_path / "f.onnx")
    with load(tmp_path / "f.onnx") as rt:
        assert rt.spec.input_size == (64, 64) and rt.spec.num_classes == 3
    assert "no edgecv spec" in capsys.readouterr().err
