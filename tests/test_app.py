"""`edgecv app` (PySide6) driven by pytest-qt on Qt's offscreen platform (no X server needed; set
QT_QPA_PLATFORM to run it on a real display)."""
import csv
import json
import os

import cv2
import pytest
from typer.testing import CliRunner

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6.QtWidgets", reason="PySide6 is not installed (pip install 'edgecv[app]')")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed")

from edgecv.app.window import ClassifierWindow  # noqa: E402
from edgecv.cli import app  # noqa: E402

runner = CliRunner()


@pytest.fixture()
def window(qtbot, sample_onnx):
    w = ClassifierWindow(str(sample_onnx))
    qtbot.addWidget(w)
    w.resize(960, 640)
    w.show()
    yield w
    w.stop_workers()


def _run_top1(model, paths) -> dict:
    r = runner.invoke(app, ["run", str(model), *map(str, paths), "--json", "--topk", "1"])
    return {json.loads(ln)["source"]: json.loads(ln)["topk"][0] for ln in r.stdout.splitlines()}


def test_folder_of_real_photos_shows_what_edgecv_run_says(window, qtbot, sample_onnx, digit_images, tmp_path):
    folder = digit_images[0].parents[1]
    window.open_paths([str(folder)])
    n = len(digit_images)
    qtbot.waitUntil(lambda: len(window.results) == n, timeout=120_000)  # a worker thread; the UI keeps running
    assert window.progress.value() == n
    expected = _run_top1(sample_onnx, digit_images)
    for i, path in enumerate(window.paths):
        window.show_index(i)
        shown = window.shown_top1()
        assert shown["index"] == expected[str(path)]["index"], path
        assert abs(shown["prob"] - expected[str(path)]["prob"]) < 1e-6
        assert window.bars[0].format().startswith(shown["label"])
    assert sample_onnx.name in window.status.text()
    assert "onnxruntime/CPUExecutionProvider" in window.status.text() and "28x28" in window.status.text()
    assert "ms per image" in window.status.text()
    shot = tmp_path / "app.png"
    assert window.grab().save(str(shot))
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[0] >= 400 and img.std() > 10
    # the arrow keys browse
    from PySide6.QtCore import Qt

    window.show_index(0)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.index == 1


def test_unreadable_image_is_a_message_not_a_crash_and_csv(window, qtbot, digit_images, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    good = tmp_path / "good.png"
    good.write_bytes(digit_images[0].read_bytes())
    window.open_paths([str(tmp_path)])
    qtbot.waitUntil(lambda: len(window.results) == 2, timeout=60_000)
    window.show_index(window.paths.index(tmp_path / "broken.png"))
    assert "not a decodable image" in window.message.text()
    assert window.shown_top1() is None and window.bars[0].value() == 0
    window.show_index(window.paths.index(good))
    assert window.message.text() == "" and window.shown_top1() is not None
    out = tmp_path / "results.csv"
    assert window.save_csv(out) == 2
    rows = list(csv.DictReader(open(out)))
    assert {r["source"] for r in rows} == {str(good), str(tmp_path / "broken.png")}
    assert sum(r["rank"] == "1" for r in rows) == 1 and any(r["error"] for r in rows)


def test_video_source_and_backend_switch(window, qtbot, tmp_path, sample_photos_bgr):
    video = tmp_path / "v.mkv"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10, (320, 240))
    for f in sample_photos_bgr * 3:
        w.write(f)
    w.release()
    window.open_stream(str(video))
    qtbot.waitUntil(lambda: "end of stream" in window.status.text(), timeout=60_000)
    assert window.bars[0].value() > 0 and not window.image.pixmap().isNull()
    # a backend that cannot run this file: a message, and the model keeps running on the old one
    window.backend_box.setCurrentText("tensorrt")
    assert window.message.text() and window.backend_box.currentText() == "auto"
    assert window.rt.name.startswith("onnxruntime/")


@pytest.fixture()
def sample_photos_bgr():
    from edgecv.assets import sample_photos

    return [cv2.resize(cv2.imread(str(p)), (320, 240)) for p in sample_photos()]
