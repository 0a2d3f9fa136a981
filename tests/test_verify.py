"""verify must pass good exports and catch real faults, naming the right first layer."""
import io
import json
import re

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from edgecv.loaders.checkpoint import save_checkpoint
from edgecv.cli import app
from edgecv.exporters.onnx_export import ExportOptions, export_onnx
from edgecv.models import create_model, default_spec
from edgecv.spec import METADATA_KEY, ModelSpec
from edgecv.verification import verify

FAST = dict(batch_sizes=(1, 2), seeds=(0,))


def _set_spec(path, **changes):
    m = onnx.load(path)
    props = {p.key: p.value for p in m.metadata_props}
    spec = ModelSpec.from_json(props[METADATA_KEY])
    for k, v in changes.items():
        setattr(spec, k, v)
    onnx.helper.set_model_props(m, {**props, METADATA_KEY: spec.to_json()})
    onnx.save(m, path)


@pytest.mark.float_kernels
def test_passes_with_skips_named_and_accuracy(sample_model):
    res = verify(sample_model, **FAST)
    assert res, res.to_dict()
    ran = [r for r in res.rows if r.status == "pass"]
    assert ran[0].runtime == "onnxruntime/CPUExecutionProvider"
    assert ran[0].accuracy >= 0.9 and ran[0].accuracy == ran[0].reference_accuracy
    for r in res.rows:
        assert r.status == "pass" or r.reason  # never silently dropped


@pytest.mark.float_kernels
def test_one_weight_perturbed_by_one_percent(sample_model, sample_onnx, tmp_path):
    bad = tmp_path / "bad.onnx"
    m = onnx.load(sample_onnx)
    init = next(i for i in m.graph.initializer if "deep.1.0.weight" in i.name or "deep_1_0_weight" in i.name)
    arr = onnx.numpy_helper.to_array(init) * np.float32(1.01)
    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
    onnx.save(m, bad)
    res = verify(sample_model, [bad], **FAST)
    assert not res
    row = res.failed[0]
    assert row.first_divergence.startswith("deep.1.0 (Conv2d"), row.first_divergence


def test_fixed_batch_export_is_checked_the_way_it_runs(sample_model, tmp_path):
    # a file fixed at batch 1 runs every batch one image at a time (run, eval, serve all do), so
    # verify feeds its batch-2 inputs the same way and the file passes; a file whose batch is
    # declared dynamic but baked in (the naive ODConv export below) still fails
    fixed = export_onnx(sample_model, ExportOptions(output=tmp_path / "b1.onnx", batch=1)).path
    res = verify(sample_model, [fixed], **FAST)
    assert res, res.rows[0].reason
    assert "seed 0 b=2" in res.inputs["random"]


def test_preprocessing_mismatch_in_the_spec(sample_model, sample_onnx, tmp_path):
    wrong = tmp_path / "mean.onnx"
    wrong.write_bytes(sample_onnx.read_bytes())
    _set_spec(wrong, mean=(0.3,), std=(0.2,))
    res = verify(sample_model, [wrong], **FAST)
    assert not res and "mean (0.3,) vs (0.5,)" in res.failed[0].first_divergence
    # BGR/RGB swapped, on a colour model fed real photos
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "c.pt", create_model("simple_cnn", num_classes=10).eval(),
                         default_spec("simple_cnn"))
    good = export_onnx(ck, ExportOptions(output=tmp_path / "c.onnx")).path
    assert verify(ck, [good], **FAST)
    _set_spec(good, channel_order="BGR")
    res = verify(ck, [good], **FAST)
    assert not res and "channel_order BGR vs RGB" in res.failed[0].first_divergence


def test_odconv_exported_naively_at_batch_1_run_at_batch_2(tmp_path, zoo_export):
    from edgecv.loaders.checkpoint import load_model
    from edgecv.models.odconv import ODConv2d

    ck, good = zoo_export("odconv_msff_net")  # the edgecv export of the same checkpoint
    loaded = load_model(ck)
    m, spec = loaded.model, loaded.spec
    first_odconv = next(name for name, mod in m.named_modules() if isinstance(mod, ODConv2d))
    assert m.get_submodule(first_odconv).kernel_num > 1  # per-sample kernels mixed from several
    buf = io.BytesIO()
    torch.onnx.export(m, (torch.randn(1, 3, *spec.input_size),), buf, dynamo=False, input_names=["input"],
                      output_names=["logits"])
    naive = onnx.load_from_string(buf.getvalue())
    for v in list(naive.graph.input) + list(naive.graph.output):  # what users do to "make it dynamic"
        v.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.helper.set_model_props(naive, {METADATA_KEY: spec.to_json()})
    onnx.save(naive, tmp_path / "naive.onnx")
    res = verify(ck, [tmp_path / "naive.onnx"], images=[], **FAST)
    assert not res
    assert res.failed[0].first_divergence.startswith(first_odconv), (first_odconv, res.failed[0].first_divergence)
    # and the edgecv export of the same checkpoint passes
    assert verify(ck, [good.path], images=[], **FAST)


def test_per_layer_on_a_passing_model_and_cli_report(sample_model, sample_onnx, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["verify", str(sample_model), str(sample_onnx), "--per-layer", "--batch-sizes", "1,3",
                            "--report", str(tmp_path / "r.md"), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["passed"] and d["rows"][0]["first_divergence"] == "no module diverges"
    assert "# edgecv verify: PASS" in (tmp_path / "r.md").read_text()
    r = runner.invoke(app, ["verify", str(tmp_path / "missing.pt")])
    assert r.exit_code == 2


def test_table_stays_readable_in_a_pipe_and_counts_skips(sample_model, sample_onnx, monkeypatch):
    """Piped output (CliRunner is not a terminal, like `make demo | tee log`) keeps whole cells, and
    the summary counts passed, failed and skipped rows separately."""
    monkeypatch.delenv("COLUMNS", raising=False)
    r = CliRunner().invoke(app, ["verify", str(sample_model), str(sample_onnx), "--batch-sizes", "1", "--seeds", "0"])
    assert r.exit_code == 0, r.output
    header = next((ln for ln in r.stdout.splitlines() if "candidate" in ln), None)
    assert header, r.stdout
    for column in ("runtime", "status", "max abs", "cosine", "e2e rel"):
        assert column in header, header
    assert any("CPUExecutionProvider" in ln and "pass" in ln for ln in r.stdout.splitlines()), r.stdout
    m = re.search(r"PASS (\d+) passed, 0 failed, (\d+) skipped", r.stderr)
    assert m and int(m[1]) >= 1 and int(m[1]) + int(m[2]) == 3, r.stderr  # CPU, CUDA, TensorRT providers


@pytest.mark.parametrize("name,size", [("msff", None), ("odconv_msff_net", None), ("resnet18", 64)])
def test_registry_models_pass_with_default_export(name, size, zoo_export):
    ck, res = zoo_export(name, size)
    result = verify(ck, [res.path], **FAST)
    assert result, result.to_dict()


def test_verify_exports_when_no_candidate_is_given(tmp_path):
    torch.manual_seed(0)
    spec = default_spec("simple_cnn")
    ck = save_checkpoint(tmp_path / "m.pt", create_model("simple_cnn", num_classes=spec.num_classes).eval(), spec)
    res = verify(ck, **FAST)
    assert res and res.rows[0].candidate == "simple_cnn.onnx"


def test_per_layer_blames_the_conv_not_a_reused_relu(tmp_path):
    """torchvision's Bottleneck (resnet50's block) reuses one ReLU module three times; the perturbed
    conv must win.  A ResNet of Bottlenecks, one block per stage but two in layer3."""
    from torchvision.models.resnet import Bottleneck, ResNet

    from edgecv.verification.layerwise import first_divergence
    from helpers import export_proto

    torch.manual_seed(0)
    model = ResNet(Bottleneck, [1, 1, 2, 1], num_classes=10).eval()
    m = export_proto(model, torch.randn(2, 3, 64, 64))
    init = next(i for i in m.graph.initializer if "layer3.1.conv2.weight" in i.name or "layer3_1_conv2_weight" in i.name)
    init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) * np.float32(1.01), init.name))
    onnx.save(m, tmp_path / "bad.onnx")
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    d = first_divergence(tmp_path / "bad.onnx", model, x)
    assert d is not None, "no divergence found"
    # the exporter folds bn2 into conv2: the fused node carries one of the two scopes
    assert d.module == "layer3.1.conv2" or (d.module == "layer3.1.bn2" and "layer3.1.conv2" in d.fused), d.describe()


def test_an_exported_file_as_the_reference_is_refused_with_a_hint(sample_onnx):
    r = CliRunner().invoke(app, ["verify", str(sample_onnx), str(sample_onnx)])
    assert r.exit_code == 2
    assert "is an exported model, and verify's reference is the checkpoint" in r.output
    assert "pickled" not in r.output  # not the misleading message the weight loader gave before


def test_verify_reads_the_arch_from_the_exported_file(tmp_path):
    """Bare weights need --arch to export; verifying them against that export does not ask again."""
    torch.manual_seed(0)
    torch.save(create_model("simple_cnn", num_classes=4).state_dict(), tmp_path / "w.pth")
    runner = CliRunner()
    r = runner.invoke(app, ["export", str(tmp_path / "w.pth"), "--arch", "simple_cnn", "--imgsz", "24", "24"])
    assert r.exit_code == 2 and "simple_cnn does not run on a 3x24x24 input" in r.stderr  # its head is sized for 32
    r = runner.invoke(app, ["export", str(tmp_path / "w.pth"), "--arch", "simple_cnn", "--resize", "36"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["verify", str(tmp_path / "w.pth"), str(tmp_path / "w.onnx"), "--batch-sizes", "1",
                            "--seeds", "0", "--per-layer"])
    assert r.exit_code == 0, r.output
    assert "per layer, no module diverges beyond the tolerance" in r.stdout
    assert "first divergence at no module" not in r.stdout
    r = runner.invoke(app, ["verify", str(tmp_path / "w.pth")])  # nothing to read it from: asked for
    assert r.exit_code == 2 and "pass --arch or --model-file" in r.stderr


def test_checks_feed_fewer_images_at_once_as_the_input_grows():
    """verify's end-to-end images go in batches whose memory stays near 8 images at 224 px: a 768 px
    ViT (gemma4_vit_167m) took 18.5 GB in batches of 8."""
    from edgecv.runtimes.pipeline.classify import check_batch

    assert [check_batch(s) for s in ((28, 28), (224, 224), (384, 384), (518, 518), (768, 768))] == [8, 8, 2, 1, 1]
