import csv
import json
import os

import cv2
import numpy as np
from typer.testing import CliRunner

from edgecv.cli import app
from helpers import run_cli_without_torch

runner = CliRunner()


def test_run_folder_json_lines_only_on_stdout(sample_onnx, digit_images):
    folder = digit_images[0].parents[1]
    r = runner.invoke(app, ["run", str(sample_onnx), str(folder), "--json", "--topk", "3"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(lines) == len(digit_images)
    assert set(lines[0]) == {"source", "topk"} and len(lines[0]["topk"]) == 3
    assert set(lines[0]["topk"][0]) == {"index", "label", "prob"}
    right = sum(ln["topk"][0]["label"] == os.path.basename(os.path.dirname(ln["source"])) for ln in lines)
    assert right / len(lines) >= 0.9
    assert "classified" in r.stderr


def test_run_with_model_option_glob_csv_and_annotated_copies(sample_onnx, digit_images, tmp_path):
    pattern = str(digit_images[0].parents[1] / "*" / "*.png")
    r = runner.invoke(app, ["run", pattern, "--model", str(sample_onnx), "--csv", str(tmp_path / "r.csv"),
                            "--save-dir", str(tmp_path / "ann"), "--batch-size", "4"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert len(rows) == 5 * len(digit_images) and rows[0]["rank"] == "1"
    saved = list((tmp_path / "ann").iterdir())
    assert len(saved) == len(digit_images)
    img = cv2.imread(str(saved[0]))
    assert img.shape[0] >= 160 and img[:20, :40].std() > 0  # the label box is drawn


def test_corrupt_images_are_skipped_and_exit_1(sample_onnx, digit_images, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"broken")
    r = runner.invoke(app, ["run", str(sample_onnx), str(digit_images[0]), str(tmp_path / "bad.png"), "--json"])
    assert r.exit_code == 1
    out = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(out) == 2 and out[1]["error"] and out[0]["topk"]
    assert "1 failed" in r.stderr


def test_bad_model_or_sources_exit_2(tmp_path, digit_images):
    (tmp_path / "m.onnx").write_bytes(b"nope")
    for args in (["run", str(tmp_path / "m.onnx"), str(digit_images[0])],
                 ["run", "--model", str(tmp_path / "missing.onnx"), str(digit_images[0])],
                 ["run", str(tmp_path / "m.onnx"), str(tmp_path / "nothing-here")],
                 ["run", str(tmp_path / "m.onnx")]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1


def test_deploy_side_runs_without_torch(sample_onnx, tmp_path):
    """A real subprocess in which importing torch or PIL raises: `edgecv run` on an ONNX model and a JPEG."""
    img = np.zeros((64, 64, 3), np.uint8)
    cv2.putText(img, "7", (14, 54), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 6)
    cv2.imwrite(str(tmp_path / "seven.jpg"), img)
    r = run_cli_without_torch(["run", str(sample_onnx), str(tmp_path / "seven.jpg"), "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["topk"][0]["label"] == "7", result


def test_no_model_is_never_chosen_for_the_user(sample_onnx, digit_images, tmp_path):
    """A first argument that is not a model, or no model at all, is refused: edgecv never classifies
    someone's images with a model they did not name."""
    folder = str(digit_images[0].parents[1])
    (tmp_path / "model.txt").write_text("not a model")
    for args, msg in ((["run", str(tmp_path / "model.txt"), folder], "model.txt is neither a model file"),
                      (["run", folder], "no model given"),
                      (["run", "--camera", "0"], "no model given")):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and msg in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
        assert not r.stdout
