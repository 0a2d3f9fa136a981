"""The user's own model code exports faithfully or says exactly why not (tests/user_models/batch_tricks.py
holds the patterns): a line of forward() that fixes the batch is named, with the file and the code;
without --batch the file is exported with a static batch of 1 that runs folders of images; with
--batch dynamic it is an error; a model whose float32 answers are rounding noise is called unstable,
not blamed on the export; a graph wrong from one exporter is replaced by the other's."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

import edgecv
from edgecv.cli import app
from edgecv.errors import CheckFailed

USER = Path(__file__).parent / "user_models"
STATED = dict(imgsz=(16, 16), resize="none", mean=(0.5,) * 3, std=(0.5,) * 3, interpolation="bilinear",
              channel_order="RGB")


@pytest.fixture(scope="module")
def tricks():
    sys.path.insert(0, str(USER))
    import batch_tricks

    sys.path.remove(str(USER))
    return batch_tricks


def _line(code: str) -> int:
    return next(i for i, ln in enumerate((USER / "batch_tricks.py").read_text().splitlines(), 1) if code in ln)


def _spec(path):
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props["edgecv.spec"])


def test_the_swin_tutorials_window_reverse(tricks, tmp_path, digit_images):
    """The issue's case, as a user meets it: weights + --model-file; the line is named, the file is
    faithful at batch 1, and `run` takes a folder of images through it."""
    torch.manual_seed(0)
    torch.save(tricks.WindowNet().state_dict(), tmp_path / "w.pth")
    shutil.copy(USER / "batch_tricks.py", tmp_path / "model.py")
    args = ["export", str(tmp_path / "w.pth"), "--model-file", f"{tmp_path / 'model.py'}:WindowNet",
            "--num-classes", "3", "--imgsz", "16", "16", "--resize", "none", "--mean", ".5", ".5", ".5",
            "--std", ".5", ".5", ".5", "--interpolation", "bilinear", "--channel-order", "RGB"]
    r = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "w.onnx")])
    assert r.exit_code == 0, r.output
    line = _line("B = int(windows.shape[0]")
    assert f"model.py:{line} `B = int(windows.shape[0] / (H * W / ws / ws))`" in r.stderr
    assert "static batch of 1" in r.stderr and "--batch dynamic" in r.stderr
    dims = onnx.load(str(tmp_path / "w.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 3, 16, 16]
    export = _spec(tmp_path / "w.onnx")["extra"]["export"]
    assert export["batch"] == 1 and f"model.py:{line}" in export["batch_note"]

    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in digit_images[:5]:
        shutil.copy(p, folder / p.name)
    r = CliRunner().invoke(app, ["run", str(tmp_path / "w.onnx"), str(folder), "--json", "--batch-size", "4"])
    assert r.exit_code == 0, r.output
    assert len([json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]) == 5
    model = tricks.WindowNet()
    model.load_state_dict(torch.load(tmp_path / "w.pth"))
    report = edgecv.verify(model.eval(), [tmp_path / "w.onnx"], batch_sizes=(1, 3), seeds=(0,), **STATED)
    assert report, report.to_dict()  # verify runs batch 3 through the batch-1 file in chunks

    r = CliRunner().invoke(app, [*args, "--batch", "dynamic", "-o", str(tmp_path / "dyn.onnx")])
    assert r.exit_code == 2, r.output
    assert "no dynamic batch" in r.stderr and f"model.py:{line}" in r.stderr
    assert not (tmp_path / "dyn.onnx").exists()


@pytest.mark.parametrize("name,code,how", [
    ("BatchIfNet", "if x.shape[0] > 1:", "Python `if` on the batch size"),
    ("TokenViewNet", "B = int(tokens.shape[0] * tokens.shape[1] / 4)", "turns the batch size into a Python number"),
])
def test_each_pattern_is_named_and_the_file_is_faithful(tricks, tmp_path, name, code, how):
    torch.manual_seed(0)
    model = getattr(tricks, name)().eval()
    res = edgecv.export(model, tmp_path / "m.onnx", **STATED).onnx
    assert res.batch == 1 and f"batch_tricks.py:{_line(code)} `{code}`" in res.batch_note and how in res.batch_note
    assert res.validation.ok and len(res.attempts) == 2  # dynamo and TorchScript, each with a dynamic batch
    x = torch.randn(1, 3, 16, 16)
    with edgecv.load(res.path) as rt, torch.no_grad():
        np.testing.assert_allclose(rt.infer(x.numpy()), model(x).numpy(), atol=1e-5)


def test_item_of_a_shape_exports_with_a_dynamic_batch(tricks, tmp_path):
    """dynamo keeps `.item()` of a shape symbolic: nothing to fall back from."""
    res = edgecv.export(tricks.ItemNet().eval(), tmp_path / "m.onnx", **STATED).onnx
    assert res.batch == "dynamic" and not res.batch_note and not res.attempts
    assert {name for name, c in res.validation.rows if c} >= {"random b=1", "random b=3"}


def test_an_unstable_model_is_called_unstable_not_a_bad_export(tricks, tmp_path):
    """Rounding noise amplified (a difference of two float32 sums of large numbers): torch's float32
    and float64 answers disagree, so the file is held to float64 torch, and the words say why."""
    torch.manual_seed(0)
    model = tricks.CancellingNet().eval()
    try:
        res = edgecv.export(model, tmp_path / "m.onnx", **STATED).onnx
    except CheckFailed as e:  # the file's noise is larger than torch's own: refused, but not blamed
        assert "numerically unstable" in str(e) and "--reference fp64" in str(e)
        return
    assert any("numerically unstable" in n and "float64" in n for n in res.validation.notes)


def test_a_model_whose_answers_ignore_the_input_is_said_to_validate_nothing(tmp_path, capsys):
    """torchvision's ViTs start with a zero head: every logit 0 for every input, so a wrong file would
    validate too.  Export and verify say so; with the head drawn at random they do not."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 14 * 14, 5)).eval()
    torch.nn.init.zeros_(model[2].weight)
    torch.nn.init.zeros_(model[2].bias)
    said = []
    res = edgecv.export(model, tmp_path / "m.onnx", say=said.append, **STATED).onnx
    assert any("cannot tell a right file from a wrong one" in n for n in res.validation.notes)
    assert capsys.readouterr().err.count("cannot tell a right file from a wrong one") == 1
    edgecv.verify(model, [tmp_path / "m.onnx"], images=[], batch_sizes=(1, 2), seeds=(0,), **STATED)
    assert "cannot tell a right file from a wrong one" in capsys.readouterr().err
    torch.nn.init.normal_(model[2].weight)
    res = edgecv.export(model, tmp_path / "m.onnx", **STATED).onnx
    assert not any("cannot tell" in n for n in res.validation.notes)


def test_a_graph_wrong_from_one_exporter_is_replaced_by_the_others(tmp_path, monkeypatch):
    """dynamo exporting a plain CNN silently wrong (pytorch#169178, #168224 report such graphs) is
    simulated by scaling one weight of its graph: the TorchScript exporter's graph is kept, and the
    note says which and why."""
    import edgecv.exporters.trace as trace

    real = trace.export_graph

    def wrong_from_dynamo(model, example, dynamic, opset, which, output_names=None):
        art = real(model, example, dynamic, opset, which, output_names)
        if which != "dynamo":
            return art
        art.optimize()
        proto = art.model_proto
        w = next(i for i in proto.graph.initializer if len(i.dims) == 4)
        w.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(w) * np.float32(1.5), w.name))
        return proto

    monkeypatch.setattr(trace, "export_graph", wrong_from_dynamo)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    res = edgecv.export(model, tmp_path / "m.onnx", **STATED).onnx
    assert res.exporter == "torchscript" and res.batch == "dynamic" and res.validation.ok
    assert res.attempts and "dynamo exporter, dynamic batch: validation failed" in res.attempts[0]
