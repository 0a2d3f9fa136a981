import json
import subprocess
import sys

from typer.testing import CliRunner

from edgecv.cli import app

runner = CliRunner()


def test_help_lists_every_command_and_version():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ["train", "info", "models"]:
        assert cmd in r.output
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("edgecv ")


def test_info_json_on_sample_model(sample_model):
    r = runner.invoke(app, ["info", str(sample_model), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["arch"] == "fusion_cnn" and d["num_classes"] == 10 and d["meta"]["val_acc"] >= 0.97


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 100)
    for args in (["info", str(tmp_path / "missing.pt")], ["info", str(tmp_path / "junk.pt")],
                 ["train", "digits", "--arch", "resnet_18", "-o", str(tmp_path / "x.pt")]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.count("\n") == 1 and r.output.startswith("error: ")


def test_models_lists_registry():
    r = runner.invoke(app, ["models", "odconv*", "--json"])
    assert json.loads(r.output) == ["odconv_msff_net", "odconv_resnet18", "odconv_resnet34", "odconv_resnet50"]


def test_console_script_runs_in_a_real_process(tmp_path):
    exe = [sys.executable, "-m", "edgecv.cli"]
    r = subprocess.run(exe + ["train", "digits", "--arch", "simple_cnn", "--epochs", "1",
                              "-o", str(tmp_path / "m.pt")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "best val_acc" in r.stderr and (tmp_path / "m.pt").exists()
