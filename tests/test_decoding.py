"""Decoding as the training loader saw it: EXIF orientation per the spec, on real photos with every
orientation tag, held against the torchvision pipeline; and decompression bombs refused unread."""
import json
import struct
import zlib

import numpy as np
import onnx
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from edgecv.assets import sample_photos
from edgecv.cli import app
from edgecv.errors import ImageError
from edgecv.runtimes.pipeline.images import DecodeOptions, decode, read_image
from edgecv.runtimes.pipeline.preprocess import Preprocessor
from edgecv.spec import METADATA_KEY, ModelSpec
from edgecv.training.transforms import eval_transform

runner = CliRunner()
ORIENTATION = 0x0112


def _tagged(img: Image.Image, tag: int, path):
    exif = Image.Exif()
    exif[ORIENTATION] = tag
    img.save(path, quality=95, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("exif_transpose", [False, True], ids=["torchvision-loader", "exif_transpose"])
def test_every_orientation_tag_matches_the_training_pipeline(tmp_path, exif_transpose):
    """Tags 1..8 on real photos; a non-square input so a wrong transpose cannot hide."""
    spec = ModelSpec(arch="t", num_classes=2, input_size=(96, 128), resize=110, exif_transpose=exif_transpose)
    tf, pre, opts = eval_transform(spec), Preprocessor(spec), DecodeOptions.for_spec(spec)
    grey_level = 1 / 255 / min(spec.std)
    photos = sample_photos()
    assert len(photos) >= 4
    for photo in photos:
        base = Image.open(photo).convert("RGB")
        for tag in range(1, 9):
            f = _tagged(base, tag, tmp_path / f"{photo.stem}_{tag}.jpg")
            with Image.open(f) as im:
                ref = tf(ImageOps.exif_transpose(im) if exif_transpose else im).numpy()
            got = pre(read_image(f, opts))
            assert got.shape == ref.shape, (photo.name, tag)
            assert np.abs(got - ref).max() <= grey_level * 1.001, (photo.name, tag)


def _with_spec(src, dst, **changes):
    m = onnx.load(src)
    props = {p.key: p.value for p in m.metadata_props}
    spec = ModelSpec.from_json(props[METADATA_KEY])
    onnx.helper.set_model_props(m, {**props, METADATA_KEY: ModelSpec.from_dict({**spec.to_dict(), **changes}).to_json()})
    onnx.save(m, dst)
    return dst


def test_run_gives_a_tagged_photo_what_training_gave_it(sample_onnx, digit_images, tmp_path):
    """The stored pixels of a digit, tagged 'rotate 90': by default (torchvision's loader) the same
    answer as the untagged file; with exif_transpose in the spec, the rotated digit's answer."""
    digit = Image.open(digit_images[0]).convert("RGB").resize((64, 64), Image.NEAREST)
    plain = _tagged(digit, 1, tmp_path / "plain.jpg")
    rotated = _tagged(digit, 6, tmp_path / "rot6.jpg")
    turned = tmp_path / "turned.jpg"  # what exif_transpose shows, stored as plain pixels
    ImageOps.exif_transpose(Image.open(rotated)).save(turned, quality=100)

    def top(model, *files):
        r = runner.invoke(app, ["run", str(model), *map(str, files), "--json", "--topk", "10"])
        assert r.exit_code == 0, r.output
        return [{e["index"]: e["prob"] for e in json.loads(ln)["topk"]} for ln in r.stdout.splitlines()]

    a, b = top(sample_onnx, plain, rotated)
    assert max(abs(a[k] - b[k]) for k in a) < 1e-6  # identical pixels, identical answer
    exif_model = _with_spec(sample_onnx, tmp_path / "exif.onnx", exif_transpose=True)
    r6, t = top(exif_model, rotated, turned)
    assert max(abs(r6[k] - a[k]) for k in a) > 1e-3  # the transposed digit is another input
    assert max(abs(r6[k] - t[k]) for k in t) < 0.05  # ... the one the training side saw (JPEG re-encoded)


def _png_header_bomb(width, height) -> bytes:
    """A PNG that declares width x height grey pixels; only the header matters, nothing is decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1) * 8))
            + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_unread_and_the_run_goes_on(sample_onnx, digit_images, tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_bomb(30000, 30000))
    with pytest.raises(ImageError, match="30000 x 30000 = 900 M pixels, over the limit of 89 M"):
        decode(bomb.read_bytes(), "bomb.png")
    r = runner.invoke(app, ["run", str(sample_onnx), str(bomb), str(digit_images[0]), "--json"])
    assert r.exit_code == 1
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert "decompression bomb" in rows[0]["error"] and "\n" not in rows[0]["error"]
    assert rows[1]["topk"] and "error" not in rows[1]
    # the limit is an option: a tiny one refuses an ordinary digit, 0 lifts it
    r = runner.invoke(app, ["run", str(sample_onnx), str(digit_images[0]), "--json", "--max-image-pixels", "10"])
    assert r.exit_code == 1 and "over the limit" in json.loads(r.stdout)["error"]
    r = runner.invoke(app, ["run", str(sample_onnx), str(digit_images[0]), "--json", "--max-image-pixels", "0"])
    assert r.exit_code == 0 and json.loads(r.stdout)["topk"]


def test_image_sequences_decode_as_single_images(sample_onnx, tmp_path):
    """frame_%04d.jpg frames go through the same decoder: EXIF tags ignored by default."""
    photo = Image.open(sample_photos()[0]).convert("RGB").resize((96, 64))
    for i, tag in enumerate([1, 6, 8]):
        _tagged(photo, tag, tmp_path / f"frame_{i:04d}.jpg")
    r = runner.invoke(app, ["run", str(sample_onnx), str(tmp_path / "frame_%04d.jpg"), "--no-show", "--json"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert [ln["frame"] for ln in lines] == [1, 2, 3]
    assert lines[0]["topk"] == lines[1]["topk"] == lines[2]["topk"]  # same stored pixels, same decoder
