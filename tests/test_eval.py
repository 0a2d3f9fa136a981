"""`edgecv eval`: accuracy, per-class metrics and the confusion matrix, the same on every backend."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgecv.cli import app
from edgecv.runtimes.evaluate import Evaluation

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_metrics_from_a_known_confusion_matrix():
    cm = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 4]])
    e = Evaluation("m", "rt", ["a", "b", "c"], cm)
    assert e.n == 15 and e.accuracy == pytest.approx(12 / 15)
    a, b, c = e.per_class()
    assert a["precision"] == pytest.approx(5 / 7) and a["recall"] == pytest.approx(5 / 6)
    assert a["specificity"] == pytest.approx(7 / 9)  # 9 not-a images, 2 of them called a
    assert b["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35) and c["f1"] == 1.0 and c["support"] == 4


def test_eval_on_digits_folder_across_backends_with_plot(sample_model, sample_onnx, tmp_path):
    data = tmp_path / "val"
    shutil.copytree(ROOT / "samples" / "digits", data)
    r = runner.invoke(app, ["eval", str(sample_model), str(sample_onnx), str(data), "--json",
                            "--plot", str(tmp_path / "cm.png")])
    assert r.exit_code == 0, r.stderr
    torch_res, onnx_res = json.loads(r.stdout)
    assert torch_res["runtime"].startswith("torch") and onnx_res["runtime"].startswith("onnxruntime")
    assert onnx_res["images"] == 30 and onnx_res["accuracy"] >= 0.9
    assert onnx_res["confusion"] == torch_res["confusion"]  # same preprocessing, same answers
    assert sum(map(sum, onnx_res["confusion"])) == 30
    for name in ("cm-digits_fusion_cnn.pt.png", f"cm-{sample_onnx.name}.png"):  # one matrix per model
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same model as a checkpoint and an ONNX of the same stem: two files, two per-class tables
    same_stem = tmp_path / "digits_fusion_cnn.onnx"
    shutil.copy(sample_onnx, same_stem)
    r = runner.invoke(app, ["eval", str(sample_model), str(same_stem), str(data), "--plot", str(tmp_path / "x.png")])
    assert r.exit_code == 0, r.stderr
    assert {p.name for p in tmp_path.glob("x-*.png")} == {"x-digits_fusion_cnn.pt.png", "x-digits_fusion_cnn.onnx.png"}
    assert r.stdout.count("per class:") == 2


def test_eval_builtin_set_and_errors(sample_onnx, tmp_path):
    r = runner.invoke(app, ["eval", str(sample_onnx), "digits", "--json"])
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)[0]
    assert res["images"] == 1797 and res["accuracy"] > 0.95 and len(res["per_class"]) == 10
    (tmp_path / "bad" / "cat").mkdir(parents=True)
    shutil.copy(ROOT / "samples" / "photos" / "chelsea.jpg", tmp_path / "bad" / "cat")
    r = runner.invoke(app, ["eval", str(sample_onnx), str(tmp_path / "bad")])
    assert r.exit_code == 2 and "data classes ['cat'] are not among the model's labels" in r.stderr
    r = runner.invoke(app, ["eval", str(sample_onnx)])
    assert r.exit_code == 2 and "eval takes MODEL" in r.stderr
