"""--embed-preprocessing: a file that takes raw uint8 images of any size and answers as the user's
torch pipeline does, from a client that has only ONNX Runtime, numpy and OpenCV's decoder."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest
import skimage.data
import torch
from PIL import Image
from torchvision import transforms as T
from typer.testing import CliRunner

import edgecv
from edgecv.cli import app
from edgecv.errors import EdgecvError
from edgecv.exporters.embed_pre import build
from edgecv.models import create_model
from edgecv.runtimes.pipeline.preprocess import Preprocessor
from edgecv.spec import ModelSpec

NAMES = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "immunohistochemistry",
         "hubble_deep_field", "camera", "moon", "page", "horse", "cat"]


def _photos() -> list[np.ndarray]:
    """skimage's bundled photos, each whole and cropped to an odd size: real pixels, many shapes."""
    out = []
    for name in NAMES:
        try:
            img = getattr(skimage.data, name)()
        except Exception:  # noqa: BLE001 - a few need a download; skip those
            continue
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        img = np.asarray(Image.fromarray(img).convert("RGB"))
        h, w = img.shape[:2]
        out += [img, np.ascontiguousarray(img[h // 7: h // 7 + 2 * h // 3 + 1, w // 5: w // 5 + 3 * w // 5 + 2])]
    return out


@pytest.mark.parametrize("spec", [
    dict(resize=256, input_size=(224, 224), interpolation="bilinear"),
    dict(resize=72, input_size=(64, 64), interpolation="bicubic", crop_rule="floor", channel_order="BGR"),
    dict(resize=(40, 50), input_size=(32, 32), interpolation="bicubic", resampler="pillow13"),
    dict(resize=36, input_size=(28, 28), interpolation="bilinear", channel_order="GRAY", mean=(0.5,), std=(0.5,)),
    dict(resize=100, input_size=(96, 96), interpolation="bicubic", resampler="torch"),
    dict(resize=64, input_size=(64, 64), interpolation="bicubic", resize_edge="longer", pad_fill=(122, 117, 105)),
    dict(resize=(48, 40), input_size=(44, 44), interpolation="bilinear", resize_edge="longer", pad_rule="ceil",
         channel_order="BGR", pad_fill=(9, 200, 31)),
    dict(resize=(20, 50), input_size=(33, 32), interpolation="bicubic", crop_rule="floor", pad_fill=(255, 0, 7)),
], ids=["bilinear", "bicubic-floor-bgr", "exact-size-pillow13", "gray", "torch-resampler", "letterbox",
        "letterbox-box-ceil-bgr", "pad-rows-crop-cols"])
def test_the_graph_gives_the_deploy_pipelines_pixels(spec):
    """Pixel for pixel the numpy pipeline's, on real photos of many shapes, including the letterbox
    and images resized smaller than the crop (padded with the spec's fill)."""
    spec = ModelSpec(arch="x", num_classes=3, **spec)
    sess = ort.InferenceSession(build(spec, "out", 18, 9).SerializeToString(), providers=["CPUExecutionProvider"])
    pre = Preprocessor(spec)
    small = [np.ascontiguousarray(img[:h, :w]) for img, (h, w) in zip(_photos()[:3], ((9, 40), (33, 7), (1, 1)))]
    for img in _photos()[::3] + small:
        got = sess.run(None, {"image": img[None]})[0][0]
        np.testing.assert_allclose(got, pre(img), atol=1e-6)  # the same grey levels, normalised alike


CLIENT = textwrap.dedent("""
    import json, sys
    import cv2, numpy as np, onnxruntime as ort
    sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    out = []
    for path in sys.argv[2:]:
        rgb = cv2.imread(path, cv2.IMREAD_COLOR)[:, :, ::-1]          # decode, BGR -> RGB
        logits = sess.run(None, {"image": np.ascontiguousarray(rgb)[None]})[0][0]
        e = np.exp(logits - logits.max())
        out.append((e / e.sum()).tolist())
    print(json.dumps({"probs": out, "modules": sorted(m for m in ("torch", "PIL", "edgecv") if m in sys.modules)}))
""")


@pytest.fixture(scope="module")
def raw_export(tmp_path_factory):
    """(model, its torchvision pipeline, the --embed-preprocessing file, the export's report)."""
    torch.manual_seed(0)
    model = create_model("simple_cnn", num_classes=10).eval()
    with torch.no_grad():  # spread the logits: probabilities that say something
        model.fc2.weight.mul_(8.0)
    tf = T.Compose([T.Resize(40, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(32), T.ToTensor(),
                    T.Normalize((0.48, 0.46, 0.41), (0.23, 0.22, 0.23))])
    out = tmp_path_factory.mktemp("embed") / "raw.onnx"
    report = edgecv.export(model, out, transforms=tf, embed_preprocessing=True, say=lambda *a: None)
    return model, tf, out, report


def test_a_client_with_only_onnxruntime_and_opencv_answers_as_the_torch_pipeline(raw_export, tmp_path):
    model, tf, out, report = raw_export
    assert report.embedded["top1_equal"] and report.embedded["max_prob_diff"] <= 1e-3
    paths = []
    for i, img in enumerate(_photos()):
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(img).save(paths[-1])
    assert len(paths) >= 20
    r = subprocess.run([sys.executable, "-c", CLIENT, str(out), *map(str, paths)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    client = json.loads(r.stdout)
    assert client["modules"] == []  # neither torch, PIL nor edgecv was imported by the client
    got = np.array(client["probs"])
    with torch.no_grad():
        want = torch.softmax(model(torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])), 1).numpy()
    assert want.max(1).min() < 0.99 and len({int(i) for i in want.argmax(1)}) > 1  # not a saturated constant
    assert (got.argmax(1) == want.argmax(1)).all()
    np.testing.assert_allclose(got, want, atol=1e-3)
    # edgecv verify checks the file end to end against the torch model and its pipeline
    res = edgecv.verify(model, [out], images=paths, transforms=tf, seeds=(0, 1))
    assert res, res.to_dict()
    row = res.rows[0]
    assert "embedded" in row.preprocess and row.e2e_top1 == 1.0 and row.e2e_max_rel < 1e-3
    # edgecv run feeds it the decoded images; a stream (float tensors per frame) is refused, not misfed
    r = CliRunner().invoke(app, ["run", str(out), *map(str, paths[:5]), "--json", "--topk", "10"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    for row, w in zip(rows, want[:5]):
        assert row["topk"][0]["index"] == int(w.argmax())
        np.testing.assert_allclose([t["prob"] for t in row["topk"]], np.sort(w)[::-1], atol=1e-3)
    from edgecv.runtimes.modelfile.onnx_file import read_spec

    with pytest.raises(EdgecvError, match="preprocessing embedded"):  # tensors are never fed to such a file
        Preprocessor(read_spec(out))


def test_eval_serve_and_streams_answer_with_the_embedded_file_as_with_the_plain_one(raw_export, tmp_path):
    """Every deploy path that decodes images (eval on folders and arrays, serve's request handler, a
    video stream) feeds an --embed-preprocessing file the images and gets the plain export's answers."""
    import cv2

    from edgecv.runtimes import load
    from edgecv.runtimes.evaluate import LabelledData
    from edgecv.runtimes.serve.triton_server import ImageClassifier

    model, tf, raw, _ = raw_export
    plain = tmp_path / "plain.onnx"
    edgecv.export(model, plain, transforms=tf, say=lambda *a: None)
    photos = _photos()[:8]
    for i, img in enumerate(photos):  # an ImageFolder of photos of many sizes
        (tmp_path / "data" / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / "data" / "ab"[i % 2] / f"p{i}.png")
    arrays = LabelledData(["a", "b"], np.arange(8) % 2,
                          arrays=np.stack([np.asarray(Image.fromarray(im).resize((90, 70))) for im in photos]))
    blobs = [cv2.imencode(".png", im[:, :, ::-1])[1].tobytes() for im in photos]
    request = {"image": np.array([[b] for b in blobs], dtype=object)}
    video = tmp_path / "v.mkv"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10, (96, 80))
    for im in photos:
        w.write(cv2.resize(im, (96, 80))[:, :, ::-1])
    w.release()
    got = {}
    for f in (plain, raw):
        folder = edgecv.evaluate(f, tmp_path / "data")
        from_arrays = edgecv.evaluate(f, arrays, batch_size=3)
        with load(f) as rt:
            served = ImageClassifier(rt, 3, None)([request])[0]["probabilities"]
        r = CliRunner().invoke(app, ["run", str(f), str(video), "--no-show", "--json", "--topk", "10"])
        assert r.exit_code == 0, r.output
        stream = [{t["index"]: t["prob"] for t in json.loads(ln)["topk"]} for ln in r.stdout.splitlines()]
        got[f] = (folder.confusion, from_arrays.confusion, served, stream)
    (cm_p, cma_p, served_p, stream_p), (cm_r, cma_r, served_r, stream_r) = got[plain], got[raw]
    assert cm_p.sum() == cma_p.sum() == 8 and (cm_p == cm_r).all() and (cma_p == cma_r).all()
    assert served_p.max() < 0.99 and served_p.std(0).max() > 0.02  # unsaturated, and the photos differ
    np.testing.assert_allclose(served_r, served_p, atol=1e-3)
    assert len(stream_p) == len(stream_r) == 8
    for a, b in zip(stream_p, stream_r):
        np.testing.assert_allclose([b[i] for i in range(10)], [a[i] for i in range(10)], atol=1e-3)


def test_what_cannot_be_embedded_is_refused():
    with pytest.raises(EdgecvError, match="bilinear and bicubic"):
        build(ModelSpec(arch="x", num_classes=3, interpolation="nearest"), "out", 18, 9)
    with pytest.raises(EdgecvError, match="not --format engine"):
        edgecv.export(torch.nn.Linear(2, 2), "m.engine", format="engine", embed_preprocessing=True)


def test_an_in_memory_timm_model_deploys_its_own_letterbox(tmp_path):
    """A timm module carries its eval transform (here timm's border mode via an overlay): the spec is
    read from the instance, proven against timm's own transform at export, and the embedded file on
    raw photos answers as timm's transform followed by the model."""
    timm = pytest.importorskip("timm")
    from timm.data import create_transform, resolve_data_config

    torch.manual_seed(0)
    model = timm.create_model("resnet10t", pretrained=False, num_classes=5, pretrained_cfg_overlay=dict(
        crop_mode="border", input_size=(3, 64, 64), crop_pct=0.9, interpolation="bicubic")).eval()
    report = edgecv.export(model, tmp_path / "m.onnx", embed_preprocessing=True, exporter="torchscript",
                           say=lambda *a: None)  # the quicker trace: this test is about the preprocessing
    spec = report.onnx.spec
    assert (spec.resize, spec.resize_edge, spec.pad_fill, spec.interpolation) == (71, "longer", (124, 116, 104),
                                                                                  "bicubic")
    assert not spec.assumed() and any(name == "preprocess" and "timm's eval transform" in detail
                                      for name, _, detail in report.onnx.stages)
    import onnx

    opsets = {o.domain: o.version for o in onnx.load(str(tmp_path / "m.onnx")).opset_import}
    assert opsets[""] == 18  # TorchScript's opset 17, converted: the opset was not stated
    tf = create_transform(**resolve_data_config({}, model=model))
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for img in _photos()[:6]:  # wide and tall: padded on either side
        got = sess.run(None, {"image": img[None]})[0][0]
        with torch.no_grad():
            want = model(tf(Image.fromarray(img))[None])[0].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
