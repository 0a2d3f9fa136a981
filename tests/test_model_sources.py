"""The models people bring: their own model file, official-style ODConv weights, TorchScript, .pt2,
.safetensors, Hugging Face directories, timm; their transforms, labels and output conventions."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from edgecv.errors import EdgecvError
from edgecv.exporters.onnx_export import ExportOptions, export_onnx
from edgecv.loaders.checkpoint import load_model
from edgecv.runtimes import load
from edgecv.runtimes.pipeline.classify import classify_paths
from edgecv.spec import ModelSpec

USER = Path(__file__).parent / "user_models"
PHOTOS = sorted((Path(__file__).parents[1] / "samples" / "photos").glob("*.jpg"))


class _Result:
    def __init__(self, r):
        self.returncode, self.stdout, self.stderr = r.exit_code, r.stdout, r.stderr


def cli(*args):
    """The CLI in this process (imports once): exit code, stdout and stderr as a user sees them."""
    from typer.testing import CliRunner

    from edgecv.cli import app

    return _Result(CliRunner().invoke(app, [str(a) for a in args]))


def user_pipeline(model, transform, photos):
    """What the user's own code says: their transforms on PIL, the eager model, softmax."""
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p in photos])
    with torch.inference_mode():
        return torch.softmax(model.eval()(x), 1).numpy()


def edgecv_probs(onnx_path, photos):
    with load(onnx_path, "onnxruntime", providers=["cpu"]) as rt:
        res = list(classify_paths(rt, photos, topk=rt.spec.num_classes))
    out = np.zeros((len(res), rt.spec.num_classes))
    for i, r in enumerate(res):
        for e in r.topk:
            out[i, e["index"]] = e["prob"]
    return out


@pytest.fixture(scope="module")
def bilinear(tmp_path_factory):
    sys.path.insert(0, str(USER))
    import bilinear_net

    sys.path.remove(str(USER))
    torch.manual_seed(0)
    model = bilinear_net.bilinear_small(num_classes=5).eval()
    d = tmp_path_factory.mktemp("bilinear")
    # DataParallel prefix, nested as training scripts save it
    torch.save({"epoch": 29, "model": {f"module.{k}": v for k, v in model.state_dict().items()}}, d / "model-29.pth")
    return model, d / "model-29.pth"


def test_user_model_file_matches_the_users_pipeline(bilinear, tmp_path):
    model, weights = bilinear
    tf = T.Compose([T.Resize((56, 56)), T.ToTensor(), T.Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])])
    spec = ModelSpec.from_transforms(tf, num_classes=5)
    labels = tmp_path / "class_indices.json"
    labels.write_text(json.dumps({str(i): n for i, n in enumerate("abcde")}))
    out = tmp_path / "b.onnx"
    res = export_onnx(weights, ExportOptions(
        output=out, model_file=f"{USER / 'bilinear_net.py'}:bilinear_small",
        stated={**spec.stated_fields(), "labels": list("abcde")}))
    assert res.spec.num_classes == 5 and res.spec.provenance["num_classes"] == "inferred"
    assert res.spec.provenance["mean"] == "stated" and res.spec.labels == list("abcde")
    assert not res.spec.assumed()
    want = user_pipeline(model, tf, PHOTOS)
    got = edgecv_probs(out, PHOTOS)
    assert (got.argmax(1) == want.argmax(1)).all()
    np.testing.assert_allclose(got, want, atol=2e-3)
    # the same through the CLI, with the labels file and torchvision-style options
    r = cli("export", weights, "--model-file", f"{USER / 'bilinear_net.py'}:bilinear_small", "--resize", "56,56",
            "--imgsz", 56, 56, "--mean", 0.5, 0.5, 0.5, "--std", 0.25, 0.25, 0.25, "--labels", labels,
            "--interpolation", "bilinear", "--channel-order", "RGB",
            "-o", tmp_path / "cli.onnx")
    assert r.returncode == 0, r.stderr
    r = cli("run", tmp_path / "cli.onnx", PHOTOS[0], "--json")
    assert r.returncode == 0, r.stderr
    top = json.loads(r.stdout.splitlines()[0])["topk"][0]
    assert top["label"] == "abcde"[want[0].argmax()] and abs(top["prob"] - want[0].max()) < 2e-3
    assert "assumed" not in r.stderr  # everything was stated


def test_model_file_errors_are_one_line(bilinear, tmp_path):
    _, weights = bilinear
    f = USER / "bilinear_net.py"
    bad = tmp_path / "broken.py"
    bad.write_text("import torch\nclass Net(torch.nn.Module):\n    def forward(self x):\n        pass\n")
    cases = [
        ((weights, "--model-file", tmp_path / "nope.py"), "does not exist"),
        ((weights, "--model-file", bad), "syntax error at line 3"),
        ((weights, "--model-file", f), "defines 2 nn.Module classes (BilinearCNN, ProbNet)"),
        ((weights, "--model-file", f"{f}:Missing"), "defines no 'Missing'"),
        ((weights, "--model-file", f"{f}:not_a_module"), "returned dict, not an nn.Module"),
        ((weights, "--model-file", f"{f}:BilinearCNN"), "does not fit bilinear_net.py:BilinearCNN"),
    ]
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    export = ("export", weights, "-o", tmp_path / "x.onnx", "--model-file", f"{f}:bilinear_small", "--labels")
    cases += [(export + (tmp_path / "l.txt",), "does not exist"),
              (export + (tmp_path / "three.txt",), "gives 3 labels, but the model has 5 classes")]
    for args, msg in cases:
        r = cli(*(args if args[0] == "export" else ("info", *args)))
        assert r.returncode == 2, (args, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and msg in lines[0], (msg, r.stderr)
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_official_odconv_4x_weights_infer_kernel_num_and_classes(tmp_path):
    from edgecv.models import create_model

    torch.manual_seed(0)
    m = create_model("odconv_resnet18", num_classes=10, kernel_num=4).eval()
    torch.save(m.state_dict(), tmp_path / "od.pth")
    lm = load_model(tmp_path / "od.pth", arch="odconv_resnet18")
    assert lm.spec.num_classes == 10 and lm.spec.model_kwargs == {"kernel_num": 4}
    assert lm.spec.provenance["kernel_num"] == "inferred" and lm.spec.provenance["num_classes"] == "inferred"
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(lm.model(x), m(x))
    # a stated model argument that contradicts the weights is refused naming the keys
    with pytest.raises(EdgecvError, match=r"mis-shaped layer1.0.conv1.weight \(4, 64, 64, 3, 3\) vs \(2,"):
        load_model(tmp_path / "od.pth", arch="odconv_resnet18", model_kwargs={"kernel_num": 2})


def test_torchscript_and_pt2_learn_size_and_classes_from_the_model(tmp_path):
    sys.path.insert(0, str(USER))
    import bilinear_net

    sys.path.remove(str(USER))
    torch.manual_seed(0)
    net = bilinear_net.ProbNet(num_classes=3).eval()
    torch.jit.trace(net, torch.zeros(1, 3, 48, 48), strict=False).save(str(tmp_path / "n.torchscript"))
    torch.export.save(torch.export.export(net, (torch.zeros(1, 3, 48, 48),)), tmp_path / "n.pt2")
    for name in ("n.torchscript", "n.pt2"):
        lm = load_model(tmp_path / name)
        assert lm.spec.num_classes == 3 and lm.spec.input_size == (48, 48), name
        assert lm.spec.provenance["input_size"] == "inferred" and lm.spec.provenance["resize"] == "assumed"
        assert any("class scores" in n for n in lm.notes) or name == "n.pt2"
    assert load_model(tmp_path / "n.pt2").fixed_batch == 1
    # exported: probabilities detected, so run does not apply softmax again
    for name in ("n.torchscript", "n.pt2"):
        res = export_onnx(tmp_path / name, ExportOptions(output=tmp_path / f"{name}.onnx"))
        assert res.spec.scores == "probabilities"
        got = edgecv_probs(res.path, PHOTOS[:2])
        tf = T.Compose([T.Resize(55), T.CenterCrop(48), T.ToTensor(), T.Normalize(res.spec.mean, res.spec.std)])
        x = torch.stack([tf(Image.open(p).convert("RGB")) for p in PHOTOS[:2]])
        with torch.inference_mode():
            want = net(x)[0].numpy()
        np.testing.assert_allclose(got, want, atol=2e-3)
    r = cli("info", tmp_path / "n.pt2.onnx", "--json")
    info = json.loads(r.stdout)
    assert info["num_classes"] == 3 and "input_size 48x48 (inferred)" in info["preprocessing"]
    assert info["inputs"][0]["shape"][0] == 1  # the .pt2 was exported for batch 1: kept, and said
    r = cli("run", tmp_path / "n.torchscript.onnx", PHOTOS[0])
    assert r.returncode == 0 and "preprocessing was assumed" in r.stderr and r.stderr.count("assumed at export") == 1


def test_safetensors_weights_and_class_output(tmp_path):
    from safetensors.torch import save_file

    sys.path.insert(0, str(USER))
    import bilinear_net

    sys.path.remove(str(USER))
    net = bilinear_net.ProbNet(num_classes=3).eval()
    save_file(net.state_dict(), tmp_path / "w.safetensors")
    lm = load_model(tmp_path / "w.safetensors", model_file=f"{USER / 'bilinear_net.py'}:ProbNet", output="1",
                    stated={"input_size": (48, 48)})
    assert lm.spec.num_classes == 8  # output 1 is the 8-channel mean
    with pytest.raises(EdgecvError, match="--class-output logits is not among"):
        load_model(tmp_path / "w.safetensors", model_file=f"{USER / 'bilinear_net.py'}:ProbNet", output="logits")


def test_huggingface_directory(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64, num_labels=3,
                                 id2label={0: "daisy", 1: "rose", 2: "tulip"}, label2id={"daisy": 0, "rose": 1, "tulip": 2})
    model = transformers.ViTForImageClassification(cfg).eval()
    model.save_pretrained(tmp_path / "vit")
    proc = transformers.ViTImageProcessor(size={"height": 32, "width": 32}, resample=2,
                                          image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3])
    proc.save_pretrained(tmp_path / "vit")
    res = export_onnx(tmp_path / "vit", ExportOptions(output=tmp_path / "vit.onnx"))
    s = res.spec
    assert s.labels == ["daisy", "rose", "tulip"] and s.input_size == (32, 32)
    assert s.mean == (0.5, 0.4, 0.3) and s.provenance["mean"] == "model"
    # against the user's pipeline: Hugging Face's own processor and model
    imgs = [Image.open(p).convert("RGB") for p in PHOTOS]
    with torch.inference_mode():
        want = torch.softmax(model(**proc(images=imgs, return_tensors="pt")).logits, 1).numpy()
    got = edgecv_probs(res.path, PHOTOS)
    assert (got.argmax(1) == want.argmax(1)).all()
    np.testing.assert_allclose(got, want, atol=5e-3)


def test_timm_spec_is_timms_own_data_config(tmp_path):
    timm = pytest.importorskip("timm")
    from timm.data import create_transform, resolve_data_config

    from edgecv.training.transforms import eval_transform

    model = timm.create_model("test_resnet", pretrained=False, num_classes=4).eval()
    torch.save(model.state_dict(), tmp_path / "t.pth")
    lm = load_model(tmp_path / "t.pth", arch="timm/test_resnet")
    assert lm.spec.num_classes == 4 and lm.spec.provenance["resize"] == "model"
    theirs = create_transform(**resolve_data_config({}, model=model))
    im = Image.open(PHOTOS[1]).convert("RGB")
    torch.testing.assert_close(eval_transform(lm.spec)(im), theirs(im))


def test_from_transforms_reads_and_refuses():
    tf = T.Compose([T.Grayscale(1), T.Resize(32, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(28),
                    T.ToTensor(), T.Normalize([0.1307], [0.3081])])
    s = ModelSpec.from_transforms(tf, num_classes=10)
    assert (s.channel_order, s.resize, s.input_size, s.interpolation) == ("GRAY", 32, (28, 28), "bicubic")
    assert s.mean == (0.1307,) and s.provenance["input_size"] == "stated"
    assert not s.assumed()
    for bad, name in [(T.RandomHorizontalFlip(), "RandomHorizontalFlip"), (T.Lambda(lambda x: x), "Lambda"),
                      (T.Resize(32, max_size=64), "Resize")]:
        with pytest.raises(EdgecvError, match=name):
            ModelSpec.from_transforms(T.Compose([bad, T.CenterCrop(28), T.ToTensor()]), num_classes=2)
    with pytest.raises(EdgecvError, match="aspect-dependent"):
        ModelSpec.from_transforms(T.Compose([T.Resize(32), T.ToTensor()]), num_classes=2)


@pytest.mark.parametrize("kind", ["txt", "list", "dict", "torchserve", "imagefolder"])
def test_label_files(tmp_path, kind):
    from edgecv.labels import read_labels

    names = ["daisy", "dandelion", "roses"]
    p = tmp_path / "labels.json"
    if kind == "txt":
        p = tmp_path / "labels.txt"
        p.write_text("\n".join(names) + "\n")
    elif kind == "list":
        p.write_text(json.dumps(names))
    elif kind == "dict":
        p.write_text(json.dumps({str(i): n for i, n in reversed(list(enumerate(names)))}))
    elif kind == "torchserve":
        p.write_text(json.dumps({str(i): [f"n0{i}", n] for i, n in enumerate(names)}))
    else:
        p = tmp_path / "train"
        for n in reversed(names):
            (p / n).mkdir(parents=True)
    assert read_labels(p) == names


def test_bad_label_files(tmp_path):
    from edgecv.labels import read_labels

    (tmp_path / "gap.json").write_text(json.dumps({"0": "a", "2": "c"}))
    with pytest.raises(EdgecvError, match=r"not 0..1 \(missing \[1\]\)"):
        read_labels(tmp_path / "gap.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(EdgecvError, match="not valid JSON"):
        read_labels(tmp_path / "bad.json")


def test_resize_pair_matches_torchvision():
    from edgecv.runtimes.pipeline.preprocess import Preprocessor
    from edgecv.training.transforms import eval_transform

    spec = ModelSpec(arch="x", num_classes=2, resize=(60, 40), input_size=(48, 32))
    im = Image.open(PHOTOS[2]).convert("RGB")
    want = T.Compose([T.Resize((60, 40)), T.CenterCrop((48, 32)), T.ToTensor(),
                      T.Normalize(spec.mean, spec.std)])(im).numpy()
    np.testing.assert_allclose(eval_transform(spec)(im).numpy(), want, atol=1e-6)
    got = Preprocessor(spec)(np.asarray(im))
    assert np.abs(got - want).max() < 1.01 / 255 / min(spec.std)  # within one grey level


def test_one_model_one_assumption_whatever_form_its_weights_take(tmp_path):
    """swin_t as a bare state_dict with --arch and as a pickled module gets the same assumed
    preprocessing: torchvision's own for its weights (resize 232, bicubic)."""
    from edgecv.models import create_model

    m = create_model("swin_t", num_classes=5)
    torch.save(m.state_dict(), tmp_path / "sd.pth")
    del m.edgecv_arch  # as a user's own torchvision.models.swin_t() would be pickled
    torch.save(m, tmp_path / "module.pt")
    a = load_model(tmp_path / "sd.pth", arch="swin_t").spec
    b = load_model(tmp_path / "module.pt", unsafe=True).spec
    assert b.arch == a.arch == "swin_t"
    for field in ("resize", "interpolation", "mean", "std", "channel_order"):
        assert getattr(a, field) == getattr(b, field), field
        assert a.provenance[field] == b.provenance[field] == "assumed"
    assert (a.resize, a.interpolation) == (232, "bicubic")
