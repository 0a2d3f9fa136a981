"""FLOPs counted from the ONNX graph and the MatMul peak: the floor `edgecv bench` reports against."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgecv.runtimes.floor import model_flops, peak_gflops


def test_flops_of_a_known_graph(tmp_path):
    # Conv 3->8, 3x3, on 1x3x10x10 (pads 1): 2*8*10*10 * 3*3*3 ; Gemm 800 -> 5: 2*800*5
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 10, 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])
    w = onnx.numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    fw = onnx.numpy_helper.from_array(np.zeros((5, 800), np.float32), "fw")
    shape = onnx.numpy_helper.from_array(np.array([0, -1], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Reshape", ["c", "shape"], ["f"]),
             helper.make_node("Gemm", ["f", "fw"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "t", [x], [y], [w, fw, shape])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    flops, notes = model_flops(path)
    assert flops == 2 * 8 * 10 * 10 * 27 + 2 * 800 * 5 and notes == []
    assert model_flops(path, batch=4)[0] == 4 * flops


def test_sample_model_flops_and_a_positive_peak(sample_onnx):
    flops, _ = model_flops(sample_onnx)
    assert flops > 1e5
    assert peak_gflops(int8=False, n=256, seconds=0.05) > 0 and peak_gflops(int8=True, n=256, seconds=0.05) > 0


def test_bench_a_checkpoint_against_eager_and_the_floor(sample_model, tmp_path):
    """A checkpoint is timed as torch eager and as its ONNX form side by side; every row says its
    speed-up over eager, its floor and where it stands, its accuracy on labelled data; skips say why."""
    import json
    import shutil

    from typer.testing import CliRunner

    from edgecv.cli import app

    ckpt = tmp_path / sample_model.name  # no .onnx beside it: the bench exports one for itself
    shutil.copy(sample_model, ckpt)
    r = CliRunner().invoke(app, ["bench", str(ckpt), "--batch-sizes", "1,4", "--seconds", "0.3", "--data", "digits",
                                 "--plot", str(tmp_path / "bench.png"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    rows = res["rows"]
    assert [(x["candidate"], x["batch"]) for x in rows] == [("torch eager", 1), ("onnxruntime fp32", 1),
                                                          ("torch eager", 4), ("onnxruntime fp32", 4)]
    eager, ort = rows[0], rows[1]
    assert eager["speedup"] == 1.0 and ort["speedup_over"] == "torch eager"
    assert ort["speedup"] == pytest.approx(eager["p50_ms"] / ort["p50_ms"])
    for x in rows:
        assert x["gflops"] > 0 and x["floor_ms"] == pytest.approx(x["gflops"] * x["batch"] / x["peak_gflops"] * 1e3)
        assert x["x_floor"] == pytest.approx(x["p50_ms"] / x["floor_ms"]) and x["p95_ms"] >= x["p50_ms"]
        assert abs(x["accuracy"] - eager["accuracy"]) < 0.005 and x["accuracy"] > 0.95  # trained sample
    assert res["cpu"]["isa"]  # AVX2 / AVX-512 / VNNI: said with every result
    assert any("fp16" in s for s in res["skipped"]) and any("tensorrt" in s or "int8" in s for s in res["skipped"])
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scan_bodies_are_counted_per_iteration(tmp_path):
    """edgecv exports ODConv's per-sample convolution as a Scan over the batch: its Conv counts once
    per sample (a Loop / If body is not counted, and that is said)."""
    axes0 = onnx.numpy_helper.from_array(np.array([0], np.int64), "axes0")
    body = helper.make_graph(
        [helper.make_node("Unsqueeze", ["xi", "axes0"], ["x1"]),
         helper.make_node("Conv", ["x1", "wi"], ["y1"], pads=[1, 1, 1, 1]),
         helper.make_node("Squeeze", ["y1", "axes0"], ["yi"])],
        "body", [helper.make_tensor_value_info("xi", TensorProto.FLOAT, None),
                 helper.make_tensor_value_info("wi", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("yi", TensorProto.FLOAT, None)], [axes0])
    scan = helper.make_node("Scan", ["x", "w"], ["y"], body=body, num_scan_inputs=2)
    g = helper.make_graph([scan], "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 10, 10]),
                                        helper.make_tensor_value_info("w", TensorProto.FLOAT, ["n", 8, 3, 3, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8, 10, 10])])
    path = tmp_path / "scan.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    for batch in (1, 3):
        flops, notes = model_flops(path, batch=batch)
        assert flops == batch * 2 * 8 * 10 * 10 * 27 and notes == []


def test_bench_names_two_files_of_one_name_by_path(sample_onnx, tmp_path):
    import shutil

    from edgecv.exporters.bench_plan import plan

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = shutil.copy(sample_onnx, tmp_path / "a" / "m.onnx"), shutil.copy(sample_onnx, tmp_path / "b" / "m.onnx")
    cands, _ = plan([tmp_path / "a" / "m.onnx", tmp_path / "b" / "m.onnx"], ["onnxruntime"], tmp_path, None, print)
    assert [c.label for c in cands] == [str(a), str(b)]
    cands, _ = plan([tmp_path / "a" / "m.onnx"], ["onnxruntime"], tmp_path, None, print)
    assert [c.label for c in cands] == ["m.onnx"]  # one file keeps its short name


def test_bench_rows_say_their_threads_and_a_busy_machine_is_warned(sample_onnx, monkeypatch):
    import json

    from typer.testing import CliRunner

    import edgecv.runtimes.bench as bench
    from edgecv.cli import app

    r = CliRunner().invoke(app, ["bench", str(sample_onnx), "--batch-sizes", "1", "--seconds", "0.2", "--no-floor",
                                 "--threads", "1", "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["rows"][0]
    assert row["threads"] == 1 and row["spread"] == pytest.approx(row["p95_ms"] / row["p50_ms"])
    assert row["images_per_s"] == pytest.approx(1e3 / row["p50_ms"])  # from the median, as the latency is
    monkeypatch.setattr(bench, "BUSY_SPREAD", 0.5)  # any spread counts as busy
    r = CliRunner().invoke(app, ["bench", str(sample_onnx), "--batch-sizes", "1", "--seconds", "0.2", "--no-floor"])
    assert r.exit_code == 0 and "the machine was busy while it was timed" in r.stderr, r.stderr
    assert "threads" in r.stdout
