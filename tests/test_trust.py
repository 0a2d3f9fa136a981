"""Trust: files from strangers never run code, outputs never destroy what the user had, and no bad
input aborts a run or exits 0.  Each class of attack from the attack corpus (``attack_corpus.py``,
built fresh each run) goes through the real commands."""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import attack_corpus as ac
from edgecv.cli import app

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(r, code=2, contains=""):
    """Exit ``code``, exactly one ``error:`` line on stderr (containing ``contains``), no traceback."""
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.exit_code == code, (r.exit_code, r.stderr[-2000:], r.stdout[-500:])
    assert len(errors) == 1 and contains in errors[0], r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr[-2000:]
    return errors[0]


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    good = ac.good_pt2(root)
    files = {
        "evil.pt": ac.evil_torch_file(root),
        "evil.pt2": ac.evil_pt2(root, good),
        "evil_still_valid.pt2": ac.evil_pt2(root, good, "evil_still_valid.pt2", still_valid=True),
        "compiled.pt2": ac.aoti_pt2(root, good),
        "hf_evil": ac.evil_hf_dir(root),
    }
    files["pt2_renamed.pt"] = root / "pt2_renamed.pt"
    shutil.copy(files["evil_still_valid.pt2"], files["pt2_renamed.pt"])
    return root, good, files


# -- untrusted model files ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["evil.pt", "evil.pt2", "evil_still_valid.pt2", "pt2_renamed.pt", "compiled.pt2",
                                  "hf_evil"])
def test_booby_trapped_model_files_run_no_code(corpus, name, tmp_path):
    """info, export and verify (which load the model) refuse with the --unsafe-load line; the
    payload never runs; nothing is written."""
    root, _, files = corpus
    path = files[name]
    for argv in (["info", path], ["export", path, "-o", tmp_path / "x.onnx"], ["verify", path]):
        r = cli(*argv)
        line = one_line_error(r, 2, "--unsafe-load only if you trust the file")
        assert "arbitrary code" in line or "compiled code" in line, line
    assert not ac.marker(root).exists(), "the payload ran"
    assert not list(tmp_path.iterdir())


def test_run_refuses_a_booby_trapped_torch_file_too(corpus, digit_images):
    root, _, files = corpus
    r = cli("run", files["evil_still_valid.pt2"], digit_images[0], "--backend", "torch")
    one_line_error(r, 2, "--unsafe-load")
    assert not ac.marker(root).exists()


def test_empty_random_and_truncated_model_files_say_what_they_are(tmp_path, corpus):
    _, good, _ = corpus
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "random.onnx").write_bytes(np.random.default_rng(0).bytes(2000))
    (tmp_path / "random.pt").write_bytes(np.random.default_rng(1).bytes(2000))
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "truncated.pt2").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases = [("empty.onnx", "not an ONNX model"), ("random.onnx", "ONNX"), ("random.pt", "not a torch checkpoint"),
             ("empty.pt", "is empty"), ("truncated.pt2", "not a loadable torch.export archive")]
    for name, msg in cases:
        line = one_line_error(cli("info", tmp_path / name), 2, msg)
        assert "pickled" not in line, line  # random bytes hold no objects: say what they are
    one_line_error(cli("run", tmp_path / "empty.onnx", tmp_path / "random.pt"), 2, "ONNX model")


@pytest.mark.parametrize("location,length,msg", [("../outside.bin", 64, "outside the model's folder"),
                                                 ("/etc/hostname", 64, "outside the model's folder"),
                                                 ("weights.bin", 1 << 40, "declares 1099511627776 bytes")])
def test_onnx_external_data_outside_its_folder_or_too_long_is_refused(tmp_path, location, length, msg):
    path = ac.onnx_with_external_data(tmp_path, location, length)
    (path.parent / "weights.bin").write_bytes(np.eye(4, dtype=np.float32).tobytes())
    (tmp_path / "outside.bin").write_bytes(np.eye(4, dtype=np.float32).tobytes())
    for argv in (["export", path, "--precision", "fp16"], ["export", path, "--format", "triton", "-o", tmp_path / "repo"],
                 ["info", path]):
        one_line_error(cli(*argv), 2, msg)
    assert not (path.parent / "ext.fp16.onnx").exists() and not (tmp_path / "repo").exists()


@pytest.mark.parametrize("spec,msg", [
    ("[1, 2]", "must be a JSON object"),
    ("not json", "not valid JSON"),
    ('{"arch": "x", "num_classes": 10, "input_size": [28, 28], "resize": null, "channel_order": "GRAY", '
     '"mean": [0.5], "std": [0]}', "std must be > 0"),
    ('{"arch": "x", "num_classes": 10, "input_size": [28, 28], "resize": null, "channel_order": "GRAY", '
     '"mean": [NaN], "std": [0.5]}', "must be finite"),
    ('{"arch": "x", "num_classes": 10, "input_size": [28, 28], "resize": null, "channel_order": "GRAY", '
     '"mean": [0.5, 0.5], "std": [0.5]}', "need 1 values for GRAY"),
    ('{"arch": "x", "num_classes": 3, "input_size": [28, 28], "resize": null, "channel_order": "GRAY", '
     '"mean": [0.5], "std": [0.5], "labels": ["a", "b\\nc", "d"]}', "control characters"),
    ('{"arch": "x", "num_classes": 3, "input_size": [28, 28], "resize": null, "channel_order": "GRAY", '
     '"mean": [0.5], "std": [0.5], "labels": ["a", "b"]}', "2 labels for 3 classes"),
    ('{"arch": "x", "num_classes": 3, "input_size": "big", "resize": null}', "input_size must be"),
])
def test_a_hostile_embedded_spec_is_refused_naming_the_field(sample_onnx, digit_images, tmp_path, spec, msg):
    bad = ac.onnx_with_spec(sample_onnx, tmp_path / "m.onnx", spec)
    for argv in (["run", bad, digit_images[0]], ["info", bad], ["export", bad, "--format", "triton", "-o", tmp_path / "r"]):
        line = one_line_error(cli(*argv), 2, msg)
        assert "m.onnx" in line  # which file
    assert not (tmp_path / "r").exists()


# -- outputs -----------------------------------------------------------------------------------------

@pytest.fixture()
def photos(tmp_path, digit_images):
    d = tmp_path / "in"
    d.mkdir()
    for i, p in enumerate(digit_images[:4]):
        shutil.copy(p, d / f"d{i}.png")
    return d


def test_an_output_never_replaces_an_input_or_another_kind_of_file(sample_onnx, photos, tmp_path):
    before = {p.name: digest(p) for p in photos.iterdir()}
    one_line_error(cli("run", sample_onnx, photos, "--csv", photos / "d0.png"), 2, "is also an input of this run")
    outside = tmp_path / "holiday.png"
    shutil.copy(photos / "d1.png", outside)
    one_line_error(cli("run", sample_onnx, photos / "d0.png", "--csv", outside), 2, "does not end in .csv")
    one_line_error(cli("run", sample_onnx, photos, "-o", photos / "d2.png"), 2, "name it .jsonl or .parquet")
    one_line_error(cli("export", sample_onnx, "--precision", "fp16", "-o", sample_onnx), 2, "overwrite")
    one_line_error(cli("eval", sample_onnx, "digits", "--plot", sample_onnx), 2, "--plot")
    assert {p.name: digest(p) for p in photos.iterdir()} == before and digest(outside) == digest(photos / "d1.png")


def test_recording_over_the_video_being_read_is_refused(sample_onnx, tmp_path):
    from edgecv.assets import SAMPLES

    clip = tmp_path / "clip.mkv"
    subprocess.run([sys.executable, str(SAMPLES / "make_video.py"), str(clip)], check=True, capture_output=True)
    before = digest(clip)
    one_line_error(cli("run", sample_onnx, clip, "--no-show", "--record", clip), 2, "is also an input of this run")
    assert digest(clip) == before


def test_devices_are_written_not_replaced(sample_onnx, photos, tmp_path):
    """--csv /dev/null writes into the device (a rename would replace it with a regular file), and a
    full device (/dev/full) is an error, never a silent exit 0."""
    r = cli("run", sample_onnx, photos, "--csv", "/dev/null")
    assert r.exit_code == 0, r.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    one_line_error(cli("run", sample_onnx, photos, "--csv", "/dev/full"), 2, "No space left on device")
    r = cli("eval", sample_onnx, "digits", "--plot", "/dev/null", "--no-per-class")
    assert r.exit_code == 0 and stat.S_ISCHR(os.stat("/dev/null").st_mode), r.output
    r = cli("run", sample_onnx, photos, "--csv", "-")  # stdout
    assert r.exit_code == 0 and r.stdout.startswith("source,rank,index,label,prob,error"), r.stdout[:200]


def test_no_output_through_a_planted_symbolic_link(sample_onnx, photos, tmp_path):
    precious = tmp_path / "outside_precious.txt"
    precious.write_text("keep me")
    (tmp_path / "r.csv").symlink_to(precious)
    one_line_error(cli("run", sample_onnx, photos, "--csv", tmp_path / "r.csv"), 2, "is a symbolic link")
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "d0.png").symlink_to(precious)  # a name the run will want
    (ann / "d1.png").symlink_to(tmp_path / "nowhere.png")  # dangling: would create a file outside
    (ann / "d2.png").write_bytes(b"the user's own d2.png")  # a name clash with a real file
    r = cli("run", sample_onnx, photos, "--save-dir", ann)
    assert r.exit_code == 0, r.output
    assert precious.read_text() == "keep me" and not (tmp_path / "nowhere.png").exists()
    assert (ann / "d2.png").read_bytes() == b"the user's own d2.png"
    written = sorted(p.name for p in ann.iterdir() if not p.is_symlink() and p.name != "d2.png")
    assert written == ["d0_1.png", "d1_1.png", "d2_1.png", "d3.png"], written
    assert all(cv2.imread(str(ann / n)) is not None for n in written)


def test_annotated_copies_take_the_written_suffix_into_the_clash_check(sample_onnx, tmp_path, digit_images):
    """photo.bmp is annotated as photo.bmp, photo.webp as photo.png: a photo.png already there stays."""
    src = tmp_path / "src"
    src.mkdir()
    img = cv2.imread(str(digit_images[0]))
    cv2.imwrite(str(src / "photo.webp"), img)
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "photo.png").write_bytes(b"mine")
    r = cli("run", sample_onnx, src / "photo.webp", "--save-dir", ann)
    assert r.exit_code == 0, r.output
    assert (ann / "photo.png").read_bytes() == b"mine" and (ann / "photo_1.png").is_file()


def test_unwritable_save_dir_is_an_error_not_a_silent_success(sample_onnx, photos, tmp_path):
    (tmp_path / "a_file").write_text("x")
    one_line_error(cli("run", sample_onnx, photos, "--save-dir", tmp_path / "a_file"), 2, "is not a folder")
    one_line_error(cli("run", sample_onnx, photos, "--save-dir", "/proc/self"), 2, "is not writable")
    one_line_error(cli("run", sample_onnx, photos, "--save-dir", "/proc/self/new"), 2, "is not writable")


def test_temporary_files_of_killed_processes_are_swept(sample_onnx, photos, tmp_path):
    """A writer killed between write and rename leaves .NAME.edgecv-PID-X.tmp; the next write into
    that folder removes it (its process is gone), and never one of a live process."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".r.csv.edgecv-{int(dead.stdout)}-0badc0de.tmp"
    stale.write_text("half written")
    live = tmp_path / f".r.csv.edgecv-{os.getpid()}-00c0ffee.tmp"
    live.write_text("being written")
    r = cli("run", sample_onnx, photos, "--csv", tmp_path / "r.csv")
    assert r.exit_code == 0, r.output
    assert not stale.exists() and live.exists() and (tmp_path / "r.csv").is_file()


def test_kill_minus_9_leaves_no_half_written_annotated_copy(sample_onnx, tmp_path, digit_images):
    """A run killed while it writes annotated copies leaves only whole images in --save-dir."""
    import signal
    import time

    src = tmp_path / "many"
    src.mkdir()
    for i in range(400):
        shutil.copy(digit_images[i % len(digit_images)], src / f"{i:04d}.png")
    ann = tmp_path / "ann"
    proc = subprocess.Popen([sys.executable, "-m", "edgecv.cli", "run", str(sample_onnx), str(src), "--save-dir",
                             str(ann), "--batch-size", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not ann.is_dir() or len(list(ann.iterdir())) < 20):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    visible = [p for p in ann.iterdir() if not p.name.startswith(".")]
    assert visible, "the run wrote nothing before it was killed"
    assert all(p.stat().st_size > 0 and cv2.imread(str(p)) is not None for p in visible)


# -- inputs ------------------------------------------------------------------------------------------

def test_brackets_in_paths_and_labels_are_printed_literally(sample_onnx, tmp_path, digit_images, monkeypatch):
    """A '[' in a folder name or a label is data: the run prints every row and loses none.  On an
    80-column terminal tables fold what does not fit; nothing is cut with an ellipsis."""
    monkeypatch.setenv("COLUMNS", "400")  # the literal checks below, whatever terminal runs the tests
    odd = tmp_path / "x" / "["
    odd.mkdir(parents=True)
    for i, p in enumerate(digit_images[:6]):
        shutil.copy(p, odd / f"]bad[{i}[red].png")
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"[bold]{i}[/bold]\n" for i in range(10)))
    m = tmp_path / "[red]m[.onnx"
    from edgecv.runtimes.modelfile.onnx_file import read_spec

    spec = read_spec(sample_onnx)
    spec.labels = [f"[bold]{i}[/bold]" for i in range(10)]
    ac.onnx_with_spec(sample_onnx, m, spec.to_json())
    r = cli("run", m, tmp_path / "x")
    assert r.exit_code == 0, r.output
    assert r.stdout.count("[red].png") == 6 and "[bold]" in r.stdout
    r = cli("info", m)
    assert r.exit_code == 0 and "[bold]0[/bold]" in r.stdout and "[red]m[.onnx" in r.stdout
    r = cli("bench", m, "--batch-sizes", "1", "--seconds", "0.1", "--no-floor")
    assert r.exit_code == 0 and "[red]m[" in r.stdout, r.output
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("info", m)
    assert r.exit_code == 0 and str(m) in r.stdout.splitlines() and "…" not in r.stdout, r.stdout
    r = cli("bench", m, "--batch-sizes", "1", "--seconds", "0.1")
    assert r.exit_code == 0 and "…" not in r.stdout and max(map(len, r.stdout.splitlines())) <= 80, r.stdout


def test_gifs_are_held_to_the_pixel_limit_and_a_source_without_frames_fails(sample_onnx, tmp_path):
    big = ac.big_gif(tmp_path / "bomb.gif")
    assert big.stat().st_size < 200_000  # ~75 KB that would decode to 300 MB a frame
    one_line_error(cli("run", sample_onnx, big, "--no-show"), 2, "over the limit")
    (tmp_path / "header.gif").write_bytes(ac.big_gif(tmp_path / "h.gif", side=64).read_bytes()[:13])
    r = cli("run", sample_onnx, tmp_path / "header.gif", "--no-show")
    assert r.exit_code == 1 and "gave no frame" in r.stderr, r.stderr
    anim = ac.animated_gif(tmp_path / "anim.gif")
    r = cli("run", sample_onnx, anim, "--no-show")
    assert r.exit_code == 0 and "12 frames" in r.stderr, r.stderr
    data = anim.read_bytes()
    (tmp_path / "cut.gif").write_bytes(data[: len(data) * 2 // 3])
    r = cli("run", sample_onnx, tmp_path / "cut.gif", "--no-show")
    assert r.exit_code == 1 and "truncated" in r.stderr, r.stderr


def test_broken_and_looping_links_in_a_folder_are_reported(sample_onnx, photos):
    (photos / "gone.png").symlink_to(photos / "never_there.png")
    (photos / "loop.png").symlink_to(photos / "loop.png")
    r = cli("run", sample_onnx, photos, "--json")
    assert r.exit_code == 1, r.output
    rows = {Path(json.loads(ln)["source"]).name: json.loads(ln) for ln in r.stdout.splitlines()}
    assert "broken symbolic link" in rows["gone.png"]["error"] and "link loop" in rows["loop.png"]["error"]
    assert sum("error" not in x for x in rows.values()) == 4 and "2 failed" in r.stderr
