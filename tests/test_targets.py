"""--target: a file for the ONNX Runtime on the box, run there for real (installed by uv), or a
refusal that names the operator."""
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from typer.testing import CliRunner

import edgecv
from edgecv.cli import app
from edgecv.errors import EdgecvError
from edgecv.exporters.targets import TARGETS, fit, resolve

runner = CliRunner()


def _release_python(release):
    from edgecv.exporters.targets_env import ort_python

    try:
        return ort_python(release)
    except EdgecvError as e:  # no package index reachable: said, not passed
        pytest.skip(f"onnxruntime {release} cannot be installed here: {e.message}")


def test_ort_116_target_loads_and_matches_torch_in_onnxruntime_116(sample_model, sample_onnx, tmp_path):
    from edgecv.exporters.targets_env import run_in_release
    from edgecv.loaders.checkpoint import load_model

    _release_python("1.16.3")
    out = tmp_path / "m116.onnx"
    r = runner.invoke(app, ["export", str(sample_model), "-o", str(out), "--target", "ort-1.16", "--check-target"])
    assert r.exit_code == 0, r.output
    assert "onnxruntime 1.16.3: max abs" in r.stderr  # export ran it there before writing
    m = onnx.load(out)
    assert m.ir_version <= 9 and max(o.version for o in m.opset_import if o.domain == "") <= 19
    spec = json.loads({p.key: p.value for p in m.metadata_props}["edgecv.spec"])
    assert spec["extra"]["export"]["target"] == "ort-1.16"
    # independently of export: the file in 1.16.3 against the torch model, at two batch sizes
    model = load_model(sample_model).model.eval()
    x = np.random.default_rng(3).standard_normal((5, 1, 28, 28)).astype(np.float32)
    got, version = run_in_release("1.16.3", out, x)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert version == "1.16.3"
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)
    # INT8 from it, for the same target: ONNX Runtime's quantizer stamps every domain it knows
    # (ai.onnx.ml 5 ...), which 1.16 refuses; the target is fitted again after the step
    q = tmp_path / "m116.int8.onnx"
    samples = Path(__file__).resolve().parents[1] / "samples" / "digits"
    r = runner.invoke(app, ["export", str(out), "-o", str(q), "--precision", "int8", "--calib", str(samples),
                            "--target", "ort-1.16"])
    assert r.exit_code == 0, r.output
    got8, _ = run_in_release("1.16.3", q, x)  # loads and runs there (its accuracy is the int8 step's check)
    assert got8.shape == want.shape and np.isfinite(got8).all()
    # the untargeted file does not load there: the problem the target solves
    with pytest.raises(EdgecvError, match="Unsupported model IR version: 1[0-9], max supported IR version: 9"):
        run_in_release("1.16.3", sample_onnx, x)


class FoldNet(torch.nn.Module):
    """nn.Fold exports as Col2Im, an operator since opset 18."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.Linear(3, 4)

    def forward(self, x):
        y = torch.nn.functional.fold(self.conv(x).flatten(2)[:, :, :49], (8, 8), kernel_size=2)
        return self.fc(y.mean((2, 3)))


def test_a_target_that_cannot_hold_the_model_names_the_operator(tmp_path):
    out = tmp_path / "fold.onnx"
    with pytest.raises(EdgecvError) as e:
        edgecv.export(FoldNet().eval(), out, target="jetson-jp6", imgsz=(8, 8))
    assert "jetson-jp6 implements opset 17" in e.value.message and "Col2Im" in e.value.message
    assert "since opset 18" in e.value.message and not out.exists()


def test_unknown_target_and_opset_past_the_target_are_refused_before_loading(sample_model, tmp_path):
    r = runner.invoke(app, ["export", str(sample_model), "-o", str(tmp_path / "m.onnx"), "--target", "ort-9"])
    assert r.exit_code == 2 and "ort-9" in r.stderr and "ort-1.16" in r.stderr and "jetson-jp6" in r.stderr
    r = runner.invoke(app, ["export", str(sample_model), "-o", str(tmp_path / "m.onnx"), "--target", "ort-1.16",
                            "--opset", "21"])
    assert r.exit_code == 2 and "opset 19" in r.stderr and not (tmp_path / "m.onnx").exists()


def _relu_model(ir, opset, dtype=TensorProto.FLOAT):
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor("w", dtype, [1], [0])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m


def test_fit_lowers_opset_and_ir_and_refuses_types_the_ir_lacks():
    low = fit(_relu_model(10, 21), resolve("ort-1.16"))
    assert low.ir_version == 9 and low.opset_import[0].version == 19
    onnx.checker.check_model(low)
    unchanged = _relu_model(8, 17)
    assert fit(unchanged, resolve("ort-1.16")) is unchanged
    with pytest.raises(EdgecvError, match="INT4.*needs a newer"):
        fit(_relu_model(10, 21, TensorProto.INT4), resolve("ort-1.16"))


def test_every_measured_target_names_a_release_and_its_limits():
    measured = [t for t in TARGETS.values() if t.requirement]
    assert {t.name for t in measured} >= {"ort-1.16", "ort-1.17", "ort-1.18", "ort-1.20"}
    for t in measured:
        assert t.requirement == f"onnxruntime=={t.requirement.split('==')[1]}" and t.ir_version and t.opset
    assert resolve("tensorrt-10").family == resolve("jetson-jp6").family == "tensorrt"


def test_without_onnx_runtime_run_says_what_to_install(sample_onnx, digit_images, tmp_path):
    """A Jetson before JetPack's wheel is installed (the base install leaves ONNX Runtime to it)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "onnxruntime":
                    raise ImportError("no onnxruntime here")
        sys.meta_path.insert(0, Block())
        sys.argv = ["edgecv", "run", {str(sample_onnx)!r}, {str(digit_images[0])!r}]
        from edgecv.cli import main
        main()
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and err[0].startswith("error: ONNX Runtime is not installed")
    assert "edgecv[ort]" in err[0] and "Jetson" in err[0]
