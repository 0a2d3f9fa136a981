import json

import onnx
import pytest
import torch
from typer.testing import CliRunner

from edgecv.loaders.checkpoint import save_checkpoint
from edgecv.cli import app
from edgecv.models import create_model, default_spec
from edgecv.runtimes.modelfile.onnx_file import read_spec
from helpers import ort_run, rel_err

runner = CliRunner()


@pytest.fixture(scope="module")
def sample_copy(tmp_path_factory, sample_model):
    d = tmp_path_factory.mktemp("exp")
    target = d / "digits.pt"
    target.write_bytes(sample_model.read_bytes())
    return target


def test_export_default_name_dynamic_batch_and_embedded_spec(sample_copy):
    r = runner.invoke(app, ["export", str(sample_copy), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    out = sample_copy.with_suffix(".onnx")
    assert summary["file"] == str(out) and out.exists()
    assert summary["inputs"][0]["shape"][0] == "batch"
    assert summary["validation"]["max_rel"] < 1e-5
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    spec = read_spec(out)
    assert spec.arch == "fusion_cnn" and spec.labels == [str(i) for i in range(10)]
    assert spec.channel_order == "GRAY" and spec.input_size == (28, 28)
    assert len(spec.extra["source_sha256"]) == 64 and spec.extra["export"]["batch"] == "dynamic"
    # the exported graph really answers at any batch size
    from edgecv.loaders.checkpoint import load_model

    ref = load_model(sample_copy).model
    for b in (1, 5):
        x = torch.randn(b, 1, 28, 28)
        with torch.no_grad():
            assert rel_err(ref(x).numpy(), ort_run(model, x.numpy())) < 1e-5


def test_static_batch(sample_copy, tmp_path):
    out = tmp_path / "static.onnx"
    r = runner.invoke(app, ["export", str(sample_copy), "-o", str(out), "--batch", "3"])
    assert r.exit_code == 0, r.output
    dims = onnx.load(out).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [3, 1, 28, 28]


def test_failed_validation_leaves_good_file_untouched(sample_copy, tmp_path, monkeypatch):
    out = tmp_path / "keep.onnx"
    out.write_bytes(b"a good model from yesterday")
    import edgecv.exporters.validation as V
    from edgecv.parity import Tolerance

    strict = V.validate_onnx
    monkeypatch.setattr(V, "validate_onnx",  # a tolerance no float export can meet
                        lambda path, model, spec, batches, tol, fp64=False: strict(path, model, spec, batches,
                                                                                  Tolerance(-1.0, 0.0), fp64))
    r = runner.invoke(app, ["export", str(sample_copy), "-o", str(out)])
    assert r.exit_code == 1
    assert "validation failed" in r.stderr and "edgecv verify --per-layer" in r.stderr
    assert out.read_bytes() == b"a good model from yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.onnx"]


def test_bad_input_one_line_exit_2_nothing_written(tmp_path, sample_copy):
    torch.save(create_model("simple_cnn", num_classes=3).state_dict(), tmp_path / "sd.pth")
    cases = [
        ["export", str(tmp_path / "nope.pt")],
        ["export", str(tmp_path / "sd.pth"), "--arch", "simple_cnm"],
        ["export", str(tmp_path / "sd.pth")],
        ["export", str(sample_copy), "-o", str(tmp_path / "no" / "dir" / "m.onnx")],
        ["export", str(sample_copy), "-o", str(tmp_path / "x.onnx"), "--odconv-mode", "magic"],
        ["export", str(sample_copy), "-o", str(tmp_path / "x.onnx"), "--batch", "zero"],
    ]
    for args in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert not list(tmp_path.glob("*.onnx"))


def test_bare_state_dict_with_arch_and_odconv_for_tensorrt(tmp_path):
    """Bare weights with --arch; --target tensorrt makes every ODConv kernel a constant (static-mix)
    instead of the Scan (the default, held by the representative export)."""
    torch.manual_seed(0)
    m = create_model("odconv_msff_net", num_classes=43).eval()
    torch.save({"state_dict": m.state_dict()}, tmp_path / "gtsrb.pth")
    r = runner.invoke(app, ["export", str(tmp_path / "gtsrb.pth"), "--arch", "odconv_msff_net", "--imgsz", "32", "32",
                            "--target", "tensorrt", "-o", str(tmp_path / "trt.onnx"), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["passes"] == {"fold_msff": 1, "rewrite_odconv": 2} and s["inputs"][0]["shape"] == ["batch", 3, 32, 32]
    graph = onnx.load(tmp_path / "trt.onnx").graph
    assert read_spec(tmp_path / "trt.onnx").extra["export"]["odconv_mode"] == "static-mix"
    inits = {i.name for i in graph.initializer}
    assert not any(n.op_type == "Scan" for n in graph.node)
    assert all(n.input[1] in inits for n in graph.node if n.op_type == "Conv")


# One model per kind of network edgecv's exporter meets (plain conv, depthwise + squeeze-excite, the
# bilinear pool, ODConv's per-sample kernels in a ResNet with stride-2 and downsample blocks, MSFF);
# each export is shared with verify's test of the same file.  Full-size transformers: test-all.
# MobileNetV3 (depthwise, squeeze-excite, hardswish) and odconv_resnet18 take 25-30 s each to trace:
# they run in test-all (and every torchvision model in benchmarks/coverage.py).
REPRESENTATIVE = [("resnet18", 64), ("bilinear_resnet34", 32), ("odconv_msff_net", None),
                  pytest.param("mobilenet_v3_small", 64, marks=pytest.mark.slow),
                  pytest.param("odconv_resnet18", 32, marks=pytest.mark.slow)]


@pytest.mark.parametrize("name,size", REPRESENTATIVE)
def test_representative_models_export_dynamic_and_validate(name, size, zoo_export):
    _, res = zoo_export(name, size)
    assert res.validation.ok and res.inputs[0]["shape"][0] == "batch"
    assert res.inputs[0]["shape"][1:] == [3, *res.spec.input_size]
    assert {r[0] for r in res.validation.rows} >= {"random b=1", "random b=3"}  # two batch sizes
    if name.startswith("odconv"):  # every ODConv rewritten, the per-sample conv as a Scan
        assert res.passes["rewrite_odconv"] == {"odconv_resnet18": 16, "odconv_msff_net": 2}[name]
        assert res.spec.extra["export"]["odconv_mode"] == "scan"
        assert any(n.op_type == "Scan" for n in onnx.load(res.path).graph.node)


@pytest.mark.slow
@pytest.mark.parametrize("name,size", [("vit_b_16", 32), ("swin_t", 64)])
def test_full_size_transformers_export_and_validate(name, size, tmp_path):
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx

    torch.manual_seed(0)
    kwargs = {"img_size": size} if name.startswith("vit") else {}
    m = create_model(name, num_classes=10, **kwargs).eval()
    ck = save_checkpoint(tmp_path / f"{name}.pt", m, default_spec(name, num_classes=10, model_kwargs=kwargs))
    res = export_onnx(ck, ExportOptions(imgsz=(size, size)))
    assert res.validation.ok and res.inputs[0]["shape"] == ["batch", 3, size, size]


def test_torchvision_vit_class_exports_from_a_model_file(tmp_path):
    """vit_b_16's class (torchvision's VisionTransformer) at test size, through --model-file."""
    from pathlib import Path

    user = Path(__file__).parent / "user_models" / "tiny_tv.py"
    import importlib.util

    spec = importlib.util.spec_from_file_location("tiny_tv", user)
    tiny_tv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny_tv)
    torch.manual_seed(0)
    torch.save(tiny_tv.tiny_vit(num_classes=4).state_dict(), tmp_path / "vit.pth")
    r = runner.invoke(app, ["export", str(tmp_path / "vit.pth"), "--model-file", f"{user}:tiny_vit", "--imgsz", "32",
                            "32", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["inputs"][0]["shape"] == ["batch", 3, 32, 32] and s["validation"]["max_rel"] < 1e-4
