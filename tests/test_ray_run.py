"""`edgecv run --ray`: Ray Data + an actor pool give the rows the local `run` gives."""
import json

import pytest

from helpers import assert_same_topk, mixed_images, run_cli_without_torch

pytest.importorskip("ray.data", reason="extra `ray` not installed")


def _images(tmp_path, digit_images):
    folder = tmp_path / "images"
    mixed_images(folder, digit_images, 12)
    return folder


@pytest.mark.slow  # a local Ray cluster takes ~40 s to start and stop on 2 cores: make test-all
def test_ray_rows_equal_local_run(tmp_path, sample_onnx, digit_images):
    from edgecv.runtimes.pipeline.results_file import read_results

    from typer.testing import CliRunner

    from edgecv.cli import app

    folder = _images(tmp_path, digit_images)
    local = CliRunner().invoke(app, ["run", str(sample_onnx), str(folder), "--json", "--topk", "3",
                                     "-o", str(tmp_path / "local.jsonl")])
    assert local.exit_code == 1, local.stderr  # the broken image fails its row
    printed = [json.loads(line) for line in local.stdout.splitlines()]
    assert read_results(tmp_path / "local.jsonl") == printed  # --output holds what --json prints

    # The driver never imports torch; two actors; the model is shipped through Ray's object store.
    proc = run_cli_without_torch(["run", str(sample_onnx), str(folder), "--ray", "--actors", "2",
                                  "--batch-size", "4", "--topk", "3", "-o", str(tmp_path / "ray.parquet")],
                                 cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "1 failed on Ray (2 actors)" in proc.stderr
    rows = read_results(tmp_path / "ray.parquet")
    assert [r["source"] for r in rows] == [r["source"] for r in printed]  # input order kept
    bad = [r for r in rows if "error" in r]
    assert len(bad) == 1 and bad[0]["source"].endswith("broken.png") and "not a decodable image" in bad[0]["error"]
    assert [r.get("error") for r in rows] == [r.get("error") for r in printed]
    assert_same_topk([r["topk"] for r in rows], [r["topk"] for r in printed], prob_tol=1e-5)
    assert len(rows) == 12 + 4 + 1


def test_ray_refuses_what_it_cannot_do(tmp_path, sample_onnx, digit_images):
    from typer.testing import CliRunner

    from edgecv.cli import app

    folder = _images(tmp_path, digit_images)
    for argv, message in [
        (["--ray", "-o", str(tmp_path / "rows.csv")], "name it .jsonl or .parquet"),
        (["--ray"], "--ray needs somewhere to put the rows"),
    ]:
        r = CliRunner().invoke(app, ["run", str(sample_onnx), str(folder), *argv])
        assert r.exit_code == 2 and message in r.stderr, r.stderr
    assert not (tmp_path / "rows.csv").exists()


def test_model_bundle_loads_from_another_folder(tmp_path, sample_onnx):
    import numpy as np

    from edgecv.runtimes import load
    from edgecv.runtimes.distributed.bundle import model_bundle, unpack_bundle

    bundle = model_bundle(sample_onnx)
    assert next(iter(bundle)) == sample_onnx.name
    moved = unpack_bundle(bundle, tmp_path / "worker")
    assert moved.parent != sample_onnx.parent
    with load(sample_onnx) as a, load(moved) as b:
        x = np.random.default_rng(0).random((2, *a.inputs[0].shape[1:]), np.float32)
        assert a.spec == b.spec
        np.testing.assert_allclose(a.infer(x), b.infer(x), rtol=0, atol=0)
