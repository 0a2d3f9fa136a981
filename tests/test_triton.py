"""Triton: the model repository export (checked against Triton's own protobuf definitions) and
`edgecv serve`, a real Triton server (PyTriton) answered over HTTP and gRPC with tritonclient."""
import json
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from helpers import assert_same_topk, mixed_images

pytest.importorskip("tritonclient.grpc", reason="extra `triton` not installed")


def _edgecv(*args):
    """The CLI in this process (its imports and the exporter's warm-up are paid once per session)."""
    from typer.testing import CliRunner

    from edgecv.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


def test_triton_repository_from_onnx(tmp_path, sample_onnx):
    import onnxruntime as ort
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    from edgecv.runtimes.modelfile.onnx_file import read_spec

    repo = tmp_path / "models"
    proc = _edgecv("export", sample_onnx, "--format", "triton", "-o", repo, "--name", "digits", "--max-batch", "16")
    assert proc.returncode == 0, proc.stderr
    cfg = text_format.Parse((repo / "digits" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    spec = read_spec(sample_onnx)
    assert cfg.name == "digits" and cfg.backend == "onnxruntime" and cfg.max_batch_size == 16
    assert cfg.HasField("dynamic_batching")
    assert [(i.name, i.data_type, list(i.dims)) for i in cfg.input] == [
        ("input", model_config_pb2.TYPE_FP32, [spec.channels, *spec.input_size])]
    assert [(o.name, list(o.dims), o.label_filename) for o in cfg.output] == [("logits", [10], "labels.txt")]
    assert json.loads(cfg.parameters["edgecv.spec"].string_value) == spec.to_dict()
    assert (repo / "digits" / "labels.txt").read_text().splitlines() == list(spec.labels)
    sess = ort.InferenceSession(str(repo / "digits" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].name == "input"

    # A new export adds version 2 and keeps version 1.
    assert _edgecv("export", sample_onnx, "--format", "triton", "-o", repo, "--name", "digits").returncode == 0
    assert sorted(p.name for p in (repo / "digits").iterdir() if p.is_dir()) == ["1", "2"]
    # A file where the repository should be: refused, the file untouched.
    (tmp_path / "file").write_text("keep me")
    proc = _edgecv("export", sample_onnx, "--format", "triton", "-o", tmp_path / "file")
    assert proc.returncode == 2 and "not a model repository folder" in proc.stderr
    assert (tmp_path / "file").read_text() == "keep me"


def test_triton_fixed_batch_model_has_no_batcher(tmp_path, sample_model):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    checkpoint = tmp_path / sample_model.name  # the .onnx is written beside the checkpoint
    shutil.copy(sample_model, checkpoint)
    proc = _edgecv("export", checkpoint, "--batch", "1", "--format", "triton", "-o", tmp_path / "repo",
                   "--name", "fixed")
    assert proc.returncode == 0, proc.stderr
    cfg = text_format.Parse((tmp_path / "repo" / "fixed" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [1, 1, 28, 28] and list(cfg.output[0].dims) == [1, 10]


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def served(tmp_path, sample_onnx):
    pytest.importorskip("pytriton", reason="extra `triton` not installed")
    from edgecv.runtimes.serve.client import TritonImageClient

    http, grpc, metrics = _free_ports(3)
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "edgecv.cli", "serve", str(sample_onnx), "--name", "digits",
                             "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics),
                             "--topk", "3"], stdout=log, stderr=subprocess.STDOUT)
    client = TritonImageClient(f"127.0.0.1:{http}", "digits")
    deadline = time.monotonic() + 180
    while not client.ready():
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "server not ready in 180 s"
        time.sleep(0.5)
    yield {"http": http, "grpc": grpc, "metrics": metrics, "client": client}
    client.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()[-3000:]
    log.close()


def test_serve_answers_equal_run(served, tmp_path, sample_onnx, digit_images):
    import urllib.request

    from edgecv.runtimes.serve.client import TritonImageClient

    paths = mixed_images(tmp_path / "images", digit_images, 8)
    local = _edgecv("run", sample_onnx, *paths, "--json", "--topk", "3")
    expected = [json.loads(line) for line in local.stdout.splitlines()]
    assert len(expected) == len(paths)

    got_http = served["client"].classify(paths, batch=1)
    with TritonImageClient(f"127.0.0.1:{served['grpc']}", "digits", protocol="grpc") as grpc:
        got_grpc = grpc.classify(paths, batch=5)  # several images per request; the broken one shares a batch
    for got in (got_http, got_grpc):
        assert [r["source"] for r in got] == [r["source"] for r in expected]
        assert [r.get("error", "") != "" for r in got] == [p.name == "broken.png" for p in paths]
        ok = [i for i, p in enumerate(paths) if p.name != "broken.png"]
        assert_same_topk([got[i]["topk"] for i in ok], [expected[i]["topk"] for i in ok], prob_tol=1e-5)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{served['metrics']}/metrics", timeout=10).read().decode()
    assert 'nv_inference_request_success{model="digits"' in metrics


def test_a_request_over_the_limits_is_refused_undecoded_and_others_are_answered(sample_onnx, digit_images,
                                                                                monkeypatch):
    """The server's infer function on one batch of three requests: too many images, too many pixels
    declared in the headers (8 x 9 MP: nothing decoded), and a normal one, answered as run would."""
    import cv2
    import numpy as np

    import edgecv.runtimes.pipeline.images as images
    from edgecv.runtimes import load
    from edgecv.runtimes.serve.triton_server import ImageClassifier

    small = digit_images[0].read_bytes()
    big = cv2.imencode(".png", np.zeros((3000, 3000, 3), np.uint8))[1].tobytes()  # 9 MP, 27 KB
    req = lambda blobs: {"image": np.array([[b] for b in blobs], dtype=object)}  # noqa: E731
    with load(sample_onnx) as rt:
        clf = ImageClassifier(rt, 3, None, max_request_images=4, max_request_pixels=20_000_000)
        decoded = []
        real = images.decode
        monkeypatch.setattr(images, "decode", lambda data, *a, **k: decoded.append(len(data)) or real(data, *a, **k))
        answers = clf([req([small] * 5), req([big, big, big]), req([small, small])])
    assert [len(a["error"]) for a in answers] == [5, 3, 2]
    assert all("over the limit of 4 per request" in e[0].decode() for e in answers[0]["error"])
    assert all("declare 27 M pixels, over the limit of 20 M" in e[0].decode() for e in answers[1]["error"])
    assert [e[0] for e in answers[2]["error"]] == [b"", b""] and decoded == [len(small)] * 2  # only these
    assert (answers[2]["topk_index"][:, 0] == answers[2]["topk_index"][0, 0]).all()
    assert (answers[0]["topk_index"] == -1).all() and (answers[1]["probabilities"] == 0).all()
