"""Videos, streams and the camera path (there is no camera here: a local MJPEG server stands in)."""
import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import pytest
from typer.testing import CliRunner

from edgecv.runtimes.streams.capture import Source
from edgecv.cli import app
from edgecv.runtimes.pipeline.classify import softmax, topk_entries
from edgecv.runtimes.streams.loop import StreamOptions, run_stream
from edgecv.runtimes.pipeline.preprocess import Preprocessor
from edgecv.runtimes import load
from helpers import assert_same_topk
from mjpeg_server import MJPEGServer

runner = CliRunner()


@pytest.fixture(scope="module")
def frames():
    from edgecv.assets import sample_photos

    return [cv2.resize(cv2.imread(str(p)), (320, 240), interpolation=cv2.INTER_AREA) for p in sample_photos()]


def _direct(rt, bgr_frames, k=3):
    pre = Preprocessor(rt.spec)
    return [topk_entries(softmax(rt.infer(pre(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))[None]))[0], rt.spec, k)
            for f in bgr_frames]


def test_lossless_video_gives_the_same_predictions_frame_by_frame(sample_onnx, frames, tmp_path):
    video = tmp_path / "photos.mkv"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10, (320, 240))
    seq = frames * 3
    for f in seq:
        w.write(f)
    w.release()
    r = runner.invoke(app, ["run", str(sample_onnx), str(video), "--no-show", "--json", "--topk", "3"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert [ln["frame"] for ln in lines] == list(range(1, len(seq) + 1))  # every frame, in order
    assert set(lines[0]) == {"source", "frame", "pts_s", "elapsed_s", "topk", "latency_ms"}
    assert [ln["pts_s"] for ln in lines[:3]] == [0.0, 0.1, 0.2]  # the frame's time in the video (10 FPS)
    with load(sample_onnx) as rt:
        expected = _direct(rt, seq)
    assert_same_topk([ln["topk"] for ln in lines], expected)
    assert "0 dropped, 0 corrupt" in r.stderr and "end of stream" in r.stderr


def test_image_sequence_pattern(sample_onnx, frames, tmp_path):
    for i, f in enumerate(frames * 2):
        cv2.imwrite(str(tmp_path / f"frame_{i:04d}.png"), f)
    r = runner.invoke(app, ["run", str(sample_onnx), str(tmp_path / "frame_%04d.png"), "--no-show", "--json"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(ln) for ln in r.stdout.splitlines()]
    with load(sample_onnx) as rt:
        assert_same_topk([ln["topk"] for ln in lines], _direct(rt, frames * 2, k=5))


def test_every_smooth_and_max_frames(sample_onnx, frames, tmp_path):
    video = tmp_path / "v.mkv"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10, (320, 240))
    for f in frames * 5:
        w.write(f)
    w.release()
    with load(sample_onnx) as rt:
        s = run_stream(rt, Source(str(video)), StreamOptions(show=False, every=3, max_frames=10, smooth=0.5),
                       out=open(os.devnull, "w"))
    assert s.frames == 10 and s.inferred == 4 and s.exit_reason == "max frames"


def test_mjpeg_stream_with_disconnect_reconnects_then_exits_cleanly(sample_onnx, frames, tmp_path):
    rec = tmp_path / "rec.mkv"
    with MJPEGServer(frames * 10, fps=40, disconnect_after=25) as srv:
        with load(sample_onnx) as rt:
            s = run_stream(rt, Source(srv.url, reconnect=1.0), StreamOptions(show=False, record=rec),
                           out=open(os.devnull, "w"))
    d = s.to_dict()
    assert 0 < d["frames"] <= 25 and d["lost"] and d["exit"] == "source lost"
    cap = cv2.VideoCapture(str(rec))  # the recording so far stays playable
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == d["frames"]


def test_live_source_hands_over_the_newest_frame_and_counts_drops(frames):
    with MJPEGServer(frames * 50, fps=200) as srv:
        src = Source(srv.url, reconnect=0.2)
        first = src.read(timeout=5)
        dropped_at_first = src.dropped
        # a slow consumer: come back only once the capture thread has replaced >10 frames (polled,
        # not slept, so a loaded machine changes how long this takes, never the outcome)
        deadline = time.monotonic() + 60
        while src.dropped - dropped_at_first <= 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        newest = src.read(timeout=5)
        src.close()
    assert first is not None and newest is not None
    assert newest.index - first.index > 10 and src.dropped > 10


def test_missing_camera_is_one_line_exit_2(sample_onnx):
    r = runner.invoke(app, ["run", str(sample_onnx), "--camera", "9", "--no-show"])
    assert r.exit_code == 2
    assert "camera 9 could not be opened" in r.stderr and "V4L2" in r.stderr


def _xvfb():
    return shutil.which("Xvfb") and shutil.which("import")


def _overlay_visible(img) -> bool:
    """The top-1 label is drawn in bright green (80, 255, 80), the stats in white; the sample
    photos have no such green, and an empty screen is black."""
    if img is None or img.mean() < 5:
        return False
    green = (img[..., 1] > 220) & (img[..., 0] < 140) & (img[..., 2] < 140)
    white = img.min(axis=2) > 230
    return green.sum() > 20 and white.sum() > 50


@pytest.mark.skipif(not _xvfb(), reason="Xvfb and imagemagick's import are not installed")
def test_window_under_xvfb_shows_the_overlay(sample_onnx, frames, tmp_path):
    from edgecv.assets import SAMPLES

    display = f":{100 + os.getpid() % 400}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "800x600x24"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        if xvfb.poll() is not None:
            pytest.skip("Xvfb could not start")
        with MJPEGServer(frames, fps=10, loop=True) as srv:
            env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
            proc = subprocess.Popen([sys.executable, "-m", "edgecv.cli", "run", str(sample_onnx), srv.url,
                                     "--duration", "60"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            shot = tmp_path / "shot.png"
            seen = False
            for _ in range(60):  # poll: the machine may be busy
                time.sleep(1.0)
                subprocess.run(["import", "-display", display, "-window", "root", str(shot)], check=True, timeout=20)
                if _overlay_visible(cv2.imread(str(shot))):
                    seen = True
                    break
            proc.terminate()  # SIGTERM is handled like Ctrl-C: a clean exit with the summary
            _, stderr = proc.communicate(timeout=30)
        assert seen, f"the window never showed the overlay; stderr: {stderr[-500:]}"
        assert proc.returncode == 0, stderr[-500:]
        assert "exit: interrupted" in stderr
        if os.environ.get("EDGECV_UPDATE_SCREENSHOT"):
            docs = SAMPLES.parent / "docs"
            docs.mkdir(exist_ok=True)
            shutil.copy(shot, docs / "stream_window.png")
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


def test_frames_in_flight_keep_order_and_answers(sample_onnx, frames, tmp_path):
    """Video files classify several frames at once (one per core); the rows come out in frame
    order with the answers one-at-a-time gives, and max_frames still stops at its count."""
    import io

    video = tmp_path / "v.mkv"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10, (320, 240))
    for f in frames * 3:
        w.write(f)
    w.release()
    got = {}
    with load(sample_onnx, intra_op_threads=1) as rt:
        for n in (1, 3):
            out = io.StringIO()
            s = run_stream(rt, Source(str(video)), StreamOptions(show=False, json_lines=True, topk=3, in_flight=n), out)
            rows = [json.loads(line) for line in out.getvalue().splitlines()]
            assert s.frames == s.inferred == len(frames) * 3 and [r["frame"] for r in rows] == list(range(1, s.frames + 1))
            got[n] = [r["topk"] for r in rows]
        out = io.StringIO()
        s = run_stream(rt, Source(str(video)), StreamOptions(show=False, json_lines=True, in_flight=3, max_frames=5), out)
        assert s.frames == 5 and len(out.getvalue().splitlines()) == 5
    assert_same_topk(got[3], got[1], prob_tol=1e-6)


def test_video_rows_csv_output_and_what_is_seen(sample_onnx, tmp_path):
    """A video run honours --csv and -o (a row per frame, with the frame's time in the video), prints
    a line each time the answer changes, and refuses what only applies to images."""
    import csv

    from edgecv.assets import SAMPLES

    video = tmp_path / "digits.mkv"
    subprocess.run([sys.executable, str(SAMPLES / "make_video.py"), str(video), "--codec", "ffv1"], check=True,
                   capture_output=True)
    r = runner.invoke(app, ["run", str(sample_onnx), str(video), "--no-show", "--csv", str(tmp_path / "f.csv"),
                            "-o", str(tmp_path / "f.jsonl"), "--topk", "2"])
    assert r.exit_code == 0, r.output
    seen = [ln for ln in r.stdout.splitlines() if ln.startswith("frame ")]
    assert len(seen) >= 10  # 30 digits, three frames each: the answer changes with the digit
    assert seen[0].startswith("frame 1 (0.00 s): 0 ")
    rows = list(csv.DictReader(open(tmp_path / "f.csv")))
    assert len(rows) == 90 * 2 and rows[2]["frame"] == "2" and float(rows[2]["pts_s"]) == pytest.approx(1 / 15, abs=1e-3)
    lines = [json.loads(ln) for ln in open(tmp_path / "f.jsonl")]
    assert len(lines) == 90 and lines[-1]["frame"] == 90 and lines[-1]["topk"][0]["label"] == "9"
    for argv, msg in ((["--save-dir", str(tmp_path / "ann")], "--save-dir writes annotated copies of images"),
                      (["--record", str(tmp_path / "x.mov")], "is not a video container edgecv records"),
                      (["--record", str(tmp_path / "x.mp4"), "--record-codec", "vp8"], "does not go in a .mp4")):
        r = runner.invoke(app, ["run", str(sample_onnx), str(video), "--no-show", *argv])
        assert r.exit_code == 2 and msg in r.stderr, r.stderr
    assert not (tmp_path / "ann").exists()
    r = runner.invoke(app, ["run", str(sample_onnx), str(SAMPLES / "digits"), "--record", str(tmp_path / "r.mkv")])
    assert r.exit_code == 2 and "--record applies to a video, stream or camera, not to images" in r.stderr


def test_recording_is_compact_by_default_and_lossless_on_request(sample_onnx, frames, tmp_path):
    video = tmp_path / "v.mkv"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10, (320, 240))
    for f in frames * 5:
        w.write(f)
    w.release()
    sizes = {}
    for codec in ("auto", "ffv1"):
        out = tmp_path / f"rec-{codec}.mkv"
        r = runner.invoke(app, ["run", str(sample_onnx), str(video), "--no-show", "--record", str(out),
                                "--record-codec", codec])
        assert r.exit_code == 0, r.output
        cap = cv2.VideoCapture(str(out))
        n = 0
        while cap.read()[0]:
            n += 1
        assert n == len(frames) * 5
        sizes[codec] = out.stat().st_size
    assert sizes["auto"] * 3 < sizes["ffv1"]  # MPEG-4 against lossless FFV1


def test_a_video_that_gives_no_frame_fails(sample_onnx, tmp_path):
    empty = tmp_path / "empty.mkv"
    w = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"FFV1"), 10, (320, 240))
    w.release()  # a container with no frame in it (or no file at all: OpenCV writes nothing)
    if not empty.exists():
        empty.write_bytes(b"\x1aE\xdf\xa3")  # an EBML header and nothing else
    r = runner.invoke(app, ["run", str(sample_onnx), str(empty), "--no-show"])
    assert r.exit_code != 0, r.output
    assert "error:" in r.stderr


def test_missing_camera_is_one_clean_line_in_a_real_process(sample_onnx, tmp_path):
    """OpenCV's own log lines ([ WARN:0@0.1] ...) go to the process's stderr, past Python: only a
    real process shows whether they precede edgecv's error."""
    from helpers import run_cli_without_torch

    r = run_cli_without_torch(["run", str(sample_onnx), "--camera", "9", "--no-show"], tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: camera 9 could not be opened"), r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
