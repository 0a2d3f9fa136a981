"""INT8 with accuracy held automatically, FP16 with fp32 I/O, and how both reach verify and run."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from edgecv.cli import app
from edgecv.errors import CheckFailed
from edgecv.exporters.precision.int8 import Int8Options, quantize_int8
from edgecv.runtimes import load
from edgecv.runtimes.modelfile.onnx_file import read_spec

from helpers import run_cli_many_without_torch

ROOT = Path(__file__).resolve().parents[1]
USER = Path(__file__).parent / "user_models"
runner = CliRunner()


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    """300 real labelled digits (the model's validation split first), ImageFolder layout."""
    from PIL import Image

    from edgecv.training.data import _stratified_split, load_builtin

    imgs, targets, labels = load_builtin("digits")
    _, val = _stratified_split(targets, 0.2, 0)
    root = tmp_path_factory.mktemp("digits")
    for i in list(val)[:300]:
        d = root / labels[targets[i]]
        d.mkdir(exist_ok=True)
        Image.fromarray(np.ascontiguousarray(imgs[i]), mode="L").save(d / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def int8_digits(sample_onnx, digits_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "digits.int8.onnx"
    return quantize_int8(sample_onnx, out, Int8Options(calib=digits_dir, bench_seconds=0.2))


def test_int8_holds_labelled_accuracy(int8_digits):
    r = int8_digits
    assert r.chosen.ok and r.chosen.accuracy is not None
    assert r.fp32_accuracy - r.chosen.accuracy <= 0.005  # within 0.5 points on held-out real digits
    assert r.held_out >= 80 and r.separate
    m = onnx.load(str(r.path))
    assert any(n.op_type == "QuantizeLinear" for n in m.graph.node)
    spec = read_spec(r.path)
    assert spec.extra["precision"] == "int8" and spec.extra["int8"]["activations"] == r.chosen.activations
    assert r.fp32_ms > 0 and r.int8_ms > 0  # measured and reported, never asserted faster
    tried = {a.activations for a in r.attempts}
    assert "u8" in tried and "s8" in tried  # both activation types measured, the choice by measurement


def test_int8_runs_and_verifies(int8_digits, sample_model, digits_dir):
    from edgecv.verification import verify

    imgs = sorted(digits_dir.rglob("*.png"))[:60]
    res = verify(sample_model, [int8_digits.path], images=imgs, batch_sizes=[2], seeds=[0],
                 backends=["onnxruntime/CPUExecutionProvider"])
    row = res.rows[0]
    assert res and row.precision == "int8" and row.e2e_top1 >= 0.99, (row.reason, row.e2e_top1, row.accuracy)
    r = runner.invoke(app, ["run", str(int8_digits.path), str(imgs[0]), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout.splitlines()[0])["topk"][0]["label"] == imgs[0].parent.name


def test_int8_keeps_the_damaging_layer_in_fp32(tmp_path):
    import torch

    from edgecv.exporters.onnx_export import ExportOptions, export_onnx

    sys.path.insert(0, str(USER))
    import outlier_net

    sys.path.remove(str(USER))
    torch.manual_seed(0)
    m = outlier_net.OutlierNet(num_classes=10)
    with torch.no_grad():
        m.fc.weight *= 20
    torch.save(m.state_dict(), tmp_path / "w.pth")
    fp32 = export_onnx(tmp_path / "w.pth", ExportOptions(output=tmp_path / "o.onnx",
                                                         model_file=str(USER / "outlier_net.py"),
                                                         stated={"input_size": (32, 32), "resize": 36})).path
    calib = tmp_path / "calib"
    shutil.copytree(ROOT / "samples" / "digits", calib / "digits")
    shutil.copytree(ROOT / "samples" / "photos", calib / "photos")
    r = quantize_int8(fp32, tmp_path / "o.int8.onnx", Int8Options(calib=calib, activations="u8", bench_seconds=0.1))
    first = r.attempts[0]
    assert not first.ok and first.agreement < 0.5  # plain int8 destroys this model
    assert r.chosen.ok and r.chosen.kept_fp32 and r.chosen.agreement >= 0.99
    assert r.attempts[1].kept_fp32 and "conv2" in r.kept_modules  # the layer that loses the signal, first
    assert r.attempts[1].agreement > first.agreement
    assert read_spec(r.path).extra["int8"]["kept_fp32"] == r.chosen.kept_fp32


def test_int8_that_cannot_hold_the_budget_writes_nothing(sample_onnx, digits_dir, tmp_path):
    out = tmp_path / "never.onnx"
    with pytest.raises(CheckFailed, match="INT8 cannot hold the accuracy budget"):
        quantize_int8(sample_onnx, out, Int8Options(calib=digits_dir, max_accuracy_drop=-1.0, max_rounds=1,
                                                    activations="u8", bench_seconds=0.1))
    assert not out.exists()


def test_precision_from_an_onnx_file_needs_no_torch(sample_onnx, tmp_path):
    shutil.copy(sample_onnx, tmp_path / "m.onnx")
    calib = ROOT / "samples" / "digits"
    int8, no_calib, fp16 = run_cli_many_without_torch([
        ["export", "m.onnx", "--precision", "int8", "--calib", str(calib)],
        ["export", "m.onnx", "--precision", "int8"],
        ["export", "m.onnx", "--precision", "fp16"]], cwd=tmp_path)
    assert int8.returncode == 0, int8.stderr
    assert (tmp_path / "m.int8.onnx").is_file() and "speed at batch 1" in int8.stderr
    assert no_calib.returncode == 2 and "needs --calib DIR" in no_calib.stderr
    assert fp16.returncode == 0, fp16.stderr
    with load(tmp_path / "m.fp16.onnx", "onnxruntime", providers=["cpu"]) as rt:
        assert rt.inputs[0].dtype == np.float32  # fp32 inputs and outputs
    m = onnx.load(str(tmp_path / "m.fp16.onnx"))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer)


def test_fp16_transformer_keeps_softmax_and_layernorm_in_fp32(tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    from edgecv.exporters.precision.lower import lower, validate_against
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx

    torch.manual_seed(0)
    cfg = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64, num_labels=3)
    transformers.ViTForImageClassification(cfg).eval().save_pretrained(tmp_path / "vit")
    fp32 = export_onnx(tmp_path / "vit", ExportOptions(output=tmp_path / "vit.onnx", validate=False)).path
    said = []
    summary = lower(fp32, tmp_path / "vit.fp16.onnx", "fp16", say=said.append)
    assert "Softmax" in summary["fp32_ops"] and summary["rel_l2"] < 1e-2
    cmp = validate_against(fp32, tmp_path / "vit.fp16.onnx", "fp16")
    assert cmp and cmp.rel_l2 < 1e-2


def test_output_paths():
    from edgecv.exporters.pipeline import output_paths

    assert output_paths(Path("m.pt"), None, "int8") == (Path("m.onnx"), Path("m.int8.onnx"))
    assert output_paths(Path("m.pt"), Path("o/x.onnx"), "int8") == (Path("o/x.fp32.onnx"), Path("o/x.onnx"))
    assert output_paths(Path("m.onnx"), None, "fp16") == (Path("m.onnx"), Path("m.fp16.onnx"))
    assert output_paths(Path("m.pt"), None, "fp32") == (Path("m.onnx"), Path("m.onnx"))


def test_engine_identity_decides_reuse_rebuild_and_refusal():
    """The TensorRT engine cache key and the foreign-engine check (pure logic: no TensorRT here)."""
    from edgecv.runtimes.modelfile.engine import engine_key, foreign_reason, stale_reason

    gpu = {"gpu": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}
    key = engine_key("abc", "int8", (1, 8, 32), 2.0, "10.9.0", gpu)
    assert stale_reason(key, dict(key)) is None
    assert stale_reason(key, {**key, "onnx_sha256": "def"}) == "the ONNX file changed"
    assert stale_reason(key, {**key, "profile": [1, 4, 16]}) == "another batch profile"
    assert stale_reason(key, {**key, "precision": "fp16"}) == "another precision"
    assert foreign_reason(key, "10.9.0", gpu) is None
    assert "built by TensorRT 10.9.0, this is TensorRT 11.0.0" in foreign_reason(key, "11.0.0", gpu)
    other = {"gpu": "NVIDIA L4", "compute_capability": "8.9"}
    assert "built for NVIDIA H100 80GB HBM3 (compute 9.0), this is NVIDIA L4 (compute 8.9)" in \
        foreign_reason(key, "10.9.0", other)
    assert "records no TensorRT build" in foreign_reason({}, "10.9.0", gpu)


def test_polygraphy_calls_match_the_installed_polygraphy():
    """The build and run path calls Polygraphy with these keywords; a Polygraphy that renamed them
    would fail here rather than on the first GPU machine (this is not a TensorRT test)."""
    import inspect

    pg = pytest.importorskip("polygraphy.backend.trt")
    assert "strongly_typed" in inspect.signature(pg.NetworkFromOnnxPath.__init__).parameters
    assert "profiles" in (pg.CreateConfig.__init__.__doc__ or "") and "memory_pool_limits" in pg.CreateConfig.__init__.__doc__
    assert list(inspect.signature(pg.Profile.add).parameters)[1:] == ["name", "min", "opt", "max"]
    assert "feed_dict" in inspect.signature(pg.TrtRunner.infer).parameters
    assert callable(pg.engine_bytes_from_network)


def test_onnx_engine_precision_is_read_from_the_graph(int8_digits, sample_onnx, tmp_path):
    from edgecv.exporters.precision.lower import lower
    from edgecv.exporters.trt_build import explicit_precision

    assert explicit_precision(int8_digits.path) == "int8" and explicit_precision(sample_onnx) is None
    lower(sample_onnx, tmp_path / "h.onnx", "fp16", say=lambda s: None)
    assert explicit_precision(tmp_path / "h.onnx") == "fp16"


def test_bench_times_fp32_and_int8_side_by_side(int8_digits, sample_onnx):
    r = runner.invoke(app, ["bench", str(sample_onnx), str(int8_digits.path), "--batch-sizes", "1,4",
                            "--seconds", "0.3", "--json"])
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert [(x["precision"], x["batch"]) for x in rows] == [("fp32", 1), ("int8", 1), ("fp32", 4), ("int8", 4)]
    assert rows[0]["speedup"] == 1.0 and rows[1]["speedup"] > 0 and rows[1]["size_mb"] > 0


@pytest.fixture(scope="module")
def token_mixer_fp32(tmp_path_factory):
    """A transformer-shaped model (weights in MatMuls) trained for a few seconds on real digits."""
    import torch

    from edgecv.exporters.onnx_export import ExportOptions, export_onnx
    from edgecv.training.data import _stratified_split, load_builtin

    sys.path.insert(0, str(USER))
    import token_mixer

    sys.path.remove(str(USER))
    imgs, targets, labels = load_builtin("digits")
    train_idx, _ = _stratified_split(targets, 0.2, 0)
    x = torch.tensor((imgs.astype(np.float32) / 255 - 0.5) / 0.5).unsqueeze(1)
    y, train_idx = torch.tensor(targets), torch.tensor(train_idx)
    torch.manual_seed(0)
    m = token_mixer.TokenMixer()
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    for _ in range(300):
        i = train_idx[torch.randint(len(train_idx), (128,))]
        loss = torch.nn.functional.cross_entropy(m(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    d = tmp_path_factory.mktemp("mixer")
    torch.save(m.state_dict(), d / "w.pth")
    stated = {"input_size": (8, 8), "resize": 8, "channel_order": "GRAY", "mean": (0.5,), "std": (0.5,),
              "labels": labels}
    return export_onnx(d / "w.pth", ExportOptions(output=d / "mixer.onnx", model_file=str(USER / "token_mixer.py"),
                                                  stated=stated)).path


def test_dynamic_int8_is_measured_for_matmul_models_only(token_mixer_fp32, sample_onnx, int8_digits, digits_dir,
                                                         tmp_path):
    from edgecv.exporters.precision.int8 import matmul_weight_share

    assert matmul_weight_share(onnx.load(str(sample_onnx)).graph) == 0.0  # a CNN: Conv and Gemm weights
    assert "dynamic" not in {a.activations for a in int8_digits.attempts}
    assert matmul_weight_share(onnx.load(str(token_mixer_fp32)).graph) > 0.8
    r = quantize_int8(token_mixer_fp32, tmp_path / "auto.onnx", Int8Options(calib=digits_dir, bench_seconds=0.1))
    dyn = next(a for a in r.attempts if a.activations == "dynamic")
    assert dyn.ok and dyn.agreement >= 0.99, dyn  # a trained model keeps its answers
    assert r.chosen.ok and r.fp32_accuracy > 0.8  # the model did learn the digits


def test_dynamic_int8_runs_on_onnx_runtime_and_is_refused_by_tensorrt(token_mixer_fp32, digits_dir, tmp_path):
    from edgecv.errors import EdgecvError
    from edgecv.exporters.trt_build import build_engine
    from edgecv.runtimes.modelfile.onnx_file import onnx_precision

    r = quantize_int8(token_mixer_fp32, tmp_path / "m.int8.onnx",
                      Int8Options(calib=digits_dir, activations="dynamic", bench_seconds=0.1))
    assert [a.activations for a in r.attempts] == ["dynamic"] and r.chosen.accuracy >= r.fp32_accuracy - 0.005
    graph = onnx.load(str(r.path)).graph
    assert any(n.op_type == "MatMulInteger" for n in graph.node)  # ONNX Runtime fuses these at load
    assert not any(n.op_type == "QuantizeLinear" for n in graph.node)
    assert onnx_precision(r.path) == "int8" and read_spec(r.path).extra["int8"]["activations"] == "dynamic"
    imgs = sorted(digits_dir.glob("*/*.png"))[:40]
    with load(token_mixer_fp32, "onnxruntime") as a, load(r.path, "onnxruntime") as b:
        assert b.spec.extra["precision"] == "int8"
        from edgecv.runtimes.pipeline.images import read_image
        from edgecv.runtimes.pipeline.preprocess import Preprocessor

        x = np.stack([Preprocessor(a.spec)(read_image(p)) for p in imgs])
        assert np.mean(a.infer(x).argmax(1) == b.infer(x).argmax(1)) >= 0.95
    with pytest.raises(EdgecvError, match="operators TensorRT cannot parse .*MatMulInteger"):
        build_engine(r.path)  # refused before TensorRT is even needed
