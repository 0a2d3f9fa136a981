"""Differential fuzzing: every preprocessing pipeline edgecv claims (torchvision v1 / v2, timm's eval
transform per crop mode, Hugging Face's image processors in both backends) against edgecv's deploy
side, on images of every awkward kind (odd and even margins, smaller than the crop, much larger,
grey, RGBA, palette, 16-bit, EXIF-tagged, JPEG).  Goal: within one grey level, everywhere.

`make test` runs a seeded slice (four images per source); `make test-all` the full sweep, whose
numbers benchmarks/preprocess_fuzz.py writes to benchmarks/results/preprocess_fuzz.md.
"""
import zlib

import numpy as np
import pytest

import preprocess_sources as ps

pytestmark = pytest.mark.float_kernels  # the deploy resize's float32 MatMuls decide rare grey levels
pytest.importorskip("transformers")
pytest.importorskip("timm")

TOLERANCE = 1.0 + 1e-3  # grey levels


def fuzz(name: str, configs: int, images: int, seed: int = 0) -> list[tuple]:
    """(grey levels, size, mode, spec) of every comparison over the tolerance."""
    rng = np.random.default_rng(zlib.crc32(name.encode()) + seed)
    over = []
    for _ in range(configs):
        spec, pipeline = ps.SOURCES[name](rng)
        for _ in range(images):
            h, w = ps.random_size(rng, spec.input_size[0])
            mode = ps.MODES[int(rng.integers(0, len(ps.MODES)))]
            g = ps.compare(spec, pipeline, ps.encoded_image(rng, h, w, mode))
            if g > TOLERANCE:
                over.append((g, (h, w), mode, spec.input_size, spec.resize, spec.interpolation, spec.resampler))
    return over


@pytest.mark.parametrize("name", list(ps.SOURCES))
def test_each_source_pipeline_within_one_grey_level(name):
    over = fuzz(name, configs=2, images=2)
    assert not over, over


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ps.SOURCES))
def test_each_source_pipeline_within_one_grey_level_full_sweep(name):
    over = fuzz(name, configs=20, images=10, seed=1)
    assert not over, over


def test_the_rules_that_differ_between_sources_are_not_interchangeable():
    """The crop offset (round / floor), the padding side and the resampler each change pixels: with
    the other rule, the same source is off by more than a grey level (the fuzzer does not pass by
    luck)."""
    import transformers as T
    from dataclasses import replace
    from PIL import Image

    from edgecv.loaders.sources.hf_processor import pipeline, spec_fields
    from edgecv.runtimes.pipeline.preprocess import Preprocessor
    from edgecv.spec import ModelSpec

    rng = np.random.default_rng(3)
    proc = T.DeiTImageProcessorPil(size={"height": 43, "width": 43}, crop_size={"height": 32, "width": 32})
    spec, run = ModelSpec(arch="x", num_classes=2, **spec_fields(proc)), pipeline(proc)
    assert (spec.crop_rule, spec.pad_rule) == ("floor", "ceil")

    def off(img, s):
        return ps.grey_levels(run(img), Preprocessor(s)(np.asarray(img)), s)

    photo = Image.fromarray(ps.photo_like(rng, 120, 90))  # resized to 43: a margin of 11 (5.5 rounds to 6)
    assert off(photo, spec) <= TOLERANCE < off(photo, replace(spec, crop_rule="round"))
    proc = T.DeiTImageProcessorPil(size={"height": 21, "width": 21}, crop_size={"height": 32, "width": 32})
    spec = ModelSpec(arch="x", num_classes=2, **spec_fields(proc))
    run = pipeline(proc)
    tiny = Image.fromarray(ps.photo_like(rng, 50, 50))  # resized to 21, padded by 11 to the crop
    assert off(tiny, spec) <= TOLERANCE < off(tiny, replace(spec, pad_rule="floor"))
    tall = Image.fromarray(ps.photo_like(rng, 241, 20))
    proc = T.ViTImageProcessorPil(size={"height": 60, "width": 71}, resample=3)
    spec, run = ModelSpec(arch="x", num_classes=2, **spec_fields(proc)), pipeline(proc)
    other = "pillow12" if spec.resampler == "pillow13" else "pillow13"
    assert off(tall, spec) <= TOLERANCE < off(tall, replace(spec, resampler=other))
