"""The export's preprocessing self-check: each source's own pipeline against edgecv's deploy side,
printed as a stage, recorded in the spec, and a refusal (exit 1, the step named, nothing written)
when they differ; `verify` repeats it."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from edgecv.cli import app

transformers = pytest.importorskip("transformers")
runner = CliRunner()
PHOTOS = sorted((Path(__file__).parents[1] / "samples" / "photos").glob("*.jpg"))


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def mobilevit(tmp_path_factory):
    """A small MobileViT with a trained-looking (non-zero) classifier and its default processor:
    BGR pixels in [0, 1], as the processor class feeds them (its JSON says neither)."""
    torch.manual_seed(0)
    cfg = transformers.MobileViTConfig(image_size=64, num_labels=3, hidden_sizes=[16, 20, 24],
                                       neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 48], num_attention_heads=2,
                                       id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    model = transformers.MobileViTForImageClassification(cfg).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0, 0.5)
        model.classifier.bias.normal_(0, 0.1)
    d = tmp_path_factory.mktemp("mobilevit") / "mvit"
    model.save_pretrained(d)
    transformers.MobileViTImageProcessor(size={"shortest_edge": 72}, crop_size={"height": 64, "width": 64}).save_pretrained(d)
    return model, d


@pytest.fixture(scope="module")
def mobilevit_export(mobilevit):
    """The CLI's export of the MobileViT directory, once for the module.  What is under test is the
    preprocessing, so the TorchScript exporter traces it (1-2 s; the dynamo exporter takes ~25 s)."""
    out = mobilevit[1].parent / "mvit.onnx"
    r = cli("export", mobilevit[1], "-o", out, "--exporter", "torchscript")
    assert r.exit_code == 0, r.output
    return out, r


def test_mobilevit_exports_bgr_unnormalised_and_runs_as_its_processor(mobilevit, mobilevit_export):
    from edgecv.runtimes import load
    from edgecv.runtimes.pipeline.classify import classify_paths

    model, d = mobilevit
    out, r = mobilevit_export
    line = next(ln for ln in r.stderr.splitlines() if "preprocess" in ln)
    assert "grey levels vs MobileViTImageProcessor" in line, line
    info = json.loads(cli("info", out, "--json").stdout)
    spec = info["spec"]
    assert spec["channel_order"] == "BGR" and spec["mean"] == [0, 0, 0] and spec["std"] == [1, 1, 1]
    assert spec["extra"]["preprocessing_check"]["ok"]
    proc = transformers.AutoImageProcessor.from_pretrained(d)
    photos = PHOTOS + [d.parent / f"extra{i}.png" for i in range(4)]
    rng = np.random.default_rng(0)
    for i, p in enumerate(photos[len(PHOTOS):]):  # odd sizes: odd crop margins, one smaller than the crop
        Image.fromarray((rng.random(((37, 131, 300, 259)[i], (53, 97, 211, 260)[i], 3)) * 255).astype(np.uint8)).save(p)
    with torch.inference_mode():
        want = torch.softmax(model(**proc(images=[Image.open(p).convert("RGB") for p in photos],
                                         return_tensors="pt")).logits, 1).numpy()
    assert want.max(1).min() < 0.99  # the classifier is not saturated: probabilities say something
    with load(out) as rt:
        got = [r.topk for r in classify_paths(rt, photos, topk=3)]
    probs = np.zeros_like(want)
    for i, topk in enumerate(got):
        for t in topk:
            probs[i, t["index"]] = t["prob"]
    assert (probs.argmax(1) == want.argmax(1)).all()
    np.testing.assert_allclose(probs, want, atol=1e-3)


@pytest.mark.parametrize("plant,step", [({"channel_order": "RGB"}, "channel order"),
                                        ({"crop_rule": "round"}, "crop offset"),
                                        ({"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}, "normalisation")])
def test_a_planted_mismatch_in_the_hf_reader_is_refused_naming_the_step(mobilevit, tmp_path, monkeypatch, plant, step):
    import edgecv.loaders.sources.hf_processor as hp

    real = hp.spec_fields
    monkeypatch.setattr(hp, "spec_fields", lambda proc: {**real(proc), **plant})
    out = tmp_path / "m.onnx"
    r = cli("export", mobilevit[1], "-o", out)
    assert r.exit_code == 1, r.output
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "differs from MobileViTImageProcessor" in err[0] and step in err[0], r.stderr
    assert "--allow-preprocessing-mismatch" in err[0] and not out.exists()


def test_allow_mismatch_writes_and_records_it(mobilevit, tmp_path, monkeypatch):
    import edgecv.loaders.sources.hf_processor as hp
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx

    real = hp.spec_fields
    monkeypatch.setattr(hp, "spec_fields", lambda proc: {**real(proc), "channel_order": "RGB"})
    monkeypatch.setattr("edgecv.exporters.trace.trace_one", _no_trace)
    with pytest.raises(_Traced):  # past the check: the export went on to trace
        export_onnx(mobilevit[1], ExportOptions(output=tmp_path / "m.onnx", allow_preprocessing_mismatch=True))


class _Traced(Exception):
    pass


def _no_trace(*a, **k):
    raise _Traced


def test_timm_source_catches_a_stated_mean_that_is_not_timms(tmp_path):
    timm = pytest.importorskip("timm")
    model = timm.create_model("test_resnet", pretrained=False, num_classes=4).eval()
    torch.save(model.state_dict(), tmp_path / "t.pth")
    r = cli("export", tmp_path / "t.pth", "--arch", "timm/test_resnet", "--mean", "0.2", "0.3", "0.4", "-o",
            tmp_path / "t.onnx")
    assert r.exit_code == 1 and "differs from timm's eval transform" in r.stderr and "normalisation" in r.stderr
    assert not (tmp_path / "t.onnx").exists()


def test_user_transforms_state_the_spec_and_a_contradicting_option_is_caught(tmp_path):
    from edgecv.models import create_model

    (tmp_path / "tf.py").write_text(
        "from torchvision import transforms as T\n"
        "val_transform = T.Compose([T.Resize(36, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(32),\n"
        "                           T.ToTensor(), T.Normalize([0.4, 0.4, 0.4], [0.2, 0.2, 0.2])])\n")
    torch.manual_seed(0)
    torch.save(create_model("simple_cnn", num_classes=3).state_dict(), tmp_path / "w.pth")
    from edgecv.loaders.checkpoint import load_model
    from edgecv.exporters.preprocess_check import check_preprocessing

    lm = load_model(tmp_path / "w.pth", arch="simple_cnn", transforms=f"{tmp_path / 'tf.py'}:val_transform")
    assert (lm.spec.resize, lm.spec.interpolation, lm.spec.mean) == (36, "bicubic", (0.4, 0.4, 0.4))
    assert lm.spec.provenance["resize"] == "stated" and "your transforms" in lm.pipeline.__name__
    assert check_preprocessing(lm.pipeline, lm.spec).ok
    r = cli("export", tmp_path / "w.pth", "--arch", "simple_cnn", "--transforms", f"{tmp_path / 'tf.py'}:val_transform",
            "--interpolation", "bilinear", "-o", tmp_path / "x.onnx")
    assert r.exit_code == 1 and "interpolation" in r.stderr, r.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_an_edgecv_checkpoint_is_held_to_its_training_pipeline(tmp_path, monkeypatch):
    """A deploy side with the wrong crop offset (planted) is caught against the training transforms."""
    import edgecv.runtimes.pipeline.preprocess as pre
    from edgecv.loaders.checkpoint import save_checkpoint
    from edgecv.models import create_model, default_spec

    spec = default_spec("simple_cnn", num_classes=3)
    spec.resize, spec.input_size = 37, (32, 32)  # an odd margin: round and floor disagree
    ck = save_checkpoint(tmp_path / "m.pt", create_model("simple_cnn", num_classes=3), spec)
    real = pre.crop_box
    flipped = {"round": "floor", "floor": "round"}  # the deploy side takes the other offset rule
    monkeypatch.setattr(pre, "crop_box", lambda h, w, th, tw, rule="round": real(h, w, th, tw, flipped[rule]))
    pre._plan.cache_clear()
    r = cli("export", ck, "-o", tmp_path / "m.onnx")
    pre._plan.cache_clear()
    assert r.exit_code == 1 and "the spec's torchvision transforms" in r.stderr and "crop offset" in r.stderr, r.stderr


def test_verify_repeats_the_check_against_the_source(mobilevit, mobilevit_export, tmp_path):
    """verify holds each candidate's preprocessing to the source's pipeline: a file whose spec was
    edited (channel order) fails on that, whatever its numbers."""
    import onnx

    from edgecv.spec import METADATA_KEY, ModelSpec

    out = mobilevit_export[0]
    r = cli("verify", mobilevit[1], out, "--batch-sizes", "1", "--seeds", "0", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    assert "grey levels vs MobileViTImageProcessor" in rows[0]["preprocess"]
    m = onnx.load(out)
    props = {p.key: p.value for p in m.metadata_props}
    spec = ModelSpec.from_json(props[METADATA_KEY])
    spec.channel_order = "RGB"
    onnx.helper.set_model_props(m, {**props, METADATA_KEY: spec.to_json()})
    onnx.save(m, tmp_path / "edited.onnx")
    r = cli("verify", mobilevit[1], tmp_path / "edited.onnx", "--batch-sizes", "1", "--seeds", "0", "--json")
    assert r.exit_code == 1
    row = json.loads(r.stdout)["rows"][0]
    assert row["status"] == "fail" and "channel order" in row["reason"]
