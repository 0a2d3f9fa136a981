"""The Python API: the five calls on an in-memory model, a backend and an export format added as
one file plus one table line each, and `import edgecv` staying torch-free."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgecv
from edgecv.errors import EdgecvError

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture(scope="module")
def in_memory(sample_model):
    """The sample network as a user's training script holds it: an nn.Module, no file."""
    from edgecv.loaders.checkpoint import load_model

    return load_model(sample_model).model


@pytest.fixture(scope="module")
def exported(in_memory, tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "digits.onnx"
    stages = []
    res = edgecv.export(in_memory, out, labels=[str(i) for i in range(10)], on_stage=lambda *s: stages.append(s[0]))
    return res, stages


def test_export_an_in_memory_model(exported):
    res, stages = exported
    assert res.path.is_file() and res.format == "onnx" and res.precision == "fp32"
    spec = res.onnx.spec
    assert spec.arch == "fusion_cnn" and spec.channel_order == "GRAY" and spec.input_size == (28, 28)
    assert spec.labels == [str(i) for i in range(10)] and spec.provenance["labels"] == "stated"
    assert res.onnx.inputs[0]["shape"][0] == "batch" and res.onnx.validation.ok
    assert stages[:3] == ["load", "preprocess", "rewrite"] and "write" in stages
    d = res.to_dict()
    assert d["file"] == str(res.path) and d["preprocessing_check"]["ok"]
    with pytest.raises(EdgecvError, match="needs an output path"):
        edgecv.export(object(), None)


def test_verify_classify_evaluate_bench(in_memory, exported, digit_images, tmp_path):
    from PIL import Image

    res, _ = exported
    report = edgecv.verify(in_memory, [res.path], batch_sizes=(1, 2), seeds=(0,))
    assert report and report.to_dict()["passed"]
    with edgecv.load(res.path) as rt:
        gray = np.asarray(Image.open(digit_images[0]).convert("L"))
        preds = rt.classify([gray, digit_images[1], str(digit_images[2]), Image.open(digit_images[3]),
                             digit_images[4].read_bytes(), tmp_path / "missing.png"], topk=3)
    assert [len(p.topk) for p in preds[:5]] == [3] * 5 and preds[5].error and not preds[5].topk
    from typer.testing import CliRunner

    from edgecv.cli import app

    r = CliRunner().invoke(app, ["run", str(res.path), *map(str, digit_images[:5]), "--json", "--topk", "3"])
    import json

    cli_rows = [json.loads(line)["topk"] for line in r.stdout.splitlines()]
    assert [p.topk for p in preds[:5]] == cli_rows  # the same preprocessing as `edgecv run`
    ev = edgecv.evaluate(res.path, SAMPLES / "digits")
    assert ev.n == 30 and ev.accuracy >= 0.9 and len(ev.per_class()) == 10
    table = edgecv.bench([res.path], batch_sizes=(1,), seconds=0.2, floor=False)
    assert [r["batch"] for r in table.rows] == [1] and table.rows[0]["p50_ms"] > 0
    assert set(table.to_dict()) == {"cpu", "rows", "skipped"}


def test_a_backend_and_a_format_are_one_file_and_one_line(exported, digit_images, tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parent / "plugins"))
    import toy_backend

    from edgecv.exporters import pipeline
    from edgecv.formats import backend_of
    from edgecv.runtimes import BACKENDS, Backend, backend_choices, register_backend

    monkeypatch.setattr("edgecv.runtimes.BACKENDS", dict(BACKENDS))
    monkeypatch.setattr(pipeline, "FORMATS", dict(pipeline.FORMATS))
    register_backend(Backend("toy", "toy_backend:ToyRuntime", toy_backend.ToyOptions, (".toy",)))  # the line
    pipeline.register_format(pipeline.Format("toy", toy_backend.build_copy, (".toy",), toy_backend.CopyOptions,
                                             help="an ONNX file named .toy"))  # the line
    res, _ = exported
    report = edgecv.export(res.path, tmp_path / "m.toy", format="toy")  # an existing ONNX: no torch needed
    toy = Path(report.to_dict()["toy"])
    assert toy.is_file() and backend_of(toy) == "toy" and "toy" in backend_choices()
    with edgecv.load(toy) as rt:
        assert rt.name.startswith("toy/onnxruntime") and rt.classify([digit_images[0]])[0].topk
    with pytest.raises(EdgecvError, match="the toy backend does not take --threads"):
        edgecv.load(toy, intra_op_threads=2)
    with pytest.raises(EdgecvError, match="does not take workspace_gib"):
        edgecv.export(res.path, tmp_path / "x.toy", format="toy", workspace_gib=1.0)
    from typer.testing import CliRunner

    from edgecv.cli import app

    r = CliRunner().invoke(app, ["run", str(toy), str(digit_images[0]), "--json"])
    assert r.exit_code == 0 and "toy/onnxruntime" in r.stderr, r.output


def test_import_edgecv_and_the_deploy_calls_stay_torch_free(exported, digit_images):
    res, _ = exported
    code = (f"import sys, edgecv\nassert 'torch' not in sys.modules\n"
            f"with edgecv.load({str(res.path)!r}) as rt:\n    p = rt.classify([{str(digit_images[0])!r}])\n"
            f"ev = edgecv.evaluate({str(res.path)!r}, {str(SAMPLES / 'digits')!r})\n"
            "assert 'torch' not in sys.modules and 'PIL' not in sys.modules, sorted(sys.modules)\nprint(ev.accuracy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and float(r.stdout) >= 0.9, r.stderr
