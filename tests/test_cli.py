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


def test_models_lists_registry_by_pattern_or_part_of_the_name():
    r = runner.invoke(app, ["models", "odconv*", "--json"])
    assert json.loads(r.output) == ["odconv_msff_net", "odconv_resnet18", "odconv_resnet34", "odconv_resnet50"]
    r = runner.invoke(app, ["models", "swin"])
    assert r.exit_code == 0 and r.stdout.split() == ["swin_b", "swin_s", "swin_t", "swin_v2_b", "swin_v2_s", "swin_v2_t"]
    r = runner.invoke(app, ["models", "nosuchnet"])
    assert r.exit_code == 0 and not r.stdout and "no model name contains 'nosuchnet'" in r.stderr


def test_console_script_runs_in_a_real_process(tmp_path):
    """`python -m edgecv.cli` as a process: output on stdout, one-line errors with exit 2 on stderr.
    (`edgecv train` itself is tested in test_train.py; the deploy commands in their own process in
    test_run_cli.py and test_architecture.py.)"""
    exe = [sys.executable, "-m", "edgecv.cli"]
    r = subprocess.run(exe + ["models", "swin_v2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.split() == ["swin_v2_b", "swin_v2_s", "swin_v2_t"], r.stderr
    r = subprocess.run(exe + ["export", str(tmp_path / "missing.pt")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr == f"error: {tmp_path / 'missing.pt'} does not exist\n" and not r.stdout


def test_help_reads_at_80_columns_with_panels(monkeypatch):
    """Option names are never cut, plain flags carry no type, and export's options come in panels."""
    import re

    monkeypatch.setenv("COLUMNS", "80")
    for cmd in ("train", "run", "export", "verify", "bench", "eval", "info", "serve"):
        r = runner.invoke(app, [cmd, "--help"], terminal_width=80)
        assert r.exit_code == 0, r.output
        text = r.output
        assert "…" not in text and "<bool>" not in text and "<str>" not in text, text
        assert max(map(len, text.splitlines())) <= 80
        from edgecv.cli import app as typer_app
        import typer

        command = typer.main.get_command(typer_app).commands[cmd]
        for param in (p for p in command.params if not getattr(p, "hidden", False)):
            for opt in param.opts + getattr(param, "secondary_opts", []):
                if opt.startswith("--"):
                    assert re.search(rf"(^|[\s,/]){re.escape(opt)}\b", text), (cmd, opt)
    r = runner.invoke(app, ["export", "--help"], terminal_width=80)
    sections = [ln.rstrip(":") for ln in r.output.splitlines() if ln and not ln.startswith(" ") and ln.endswith(":")]
    assert sections == ["Arguments", "Options", "Preprocessing", "Precision", "TensorRT engine", "Triton"], sections
