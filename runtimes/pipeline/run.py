"""``edgecv run`` on image files, in the library: which model to run, and classifying files with
annotated copies written beside the results (deploy side: no torch).  Streams are ``streams.loop``."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from edgecv.errors import EdgecvError
from edgecv.runtimes.pipeline.classify import Result, classify_paths


def resolve_model(sources: list[str], model: str | None) -> tuple[str, list[str]]:
    """--model, else the first of SOURCES when it is a model file.  Anything else is refused: a
    model is never chosen for the user (a file of another kind in first place is named as such)."""
    from edgecv.formats import is_image, is_model_file, is_stream_source, model_suffixes

    if model:
        return model, sources
    if sources and is_model_file(sources[0]):
        return sources[0], sources[1:]
    kinds = ", ".join(model_suffixes())
    if sources and Path(sources[0]).is_file() and not is_image(sources[0]) and not is_stream_source(sources[0]):
        raise EdgecvError(f"{sources[0]} is neither a model file ({kinds}) nor an image",
                          "give the model first (edgecv run MODEL IMAGES...) or with --model FILE")
    raise EdgecvError("no model given", "give the model first (edgecv run MODEL IMAGES...) or with --model FILE; "
                      "`edgecv export samples/digits_fusion_cnn.pt` makes the sample digits model")


def classify_files(rt, paths, *, batch_size: int = 8, topk: int = 5, save_dir: Path | None = None,
                   max_pixels=None) -> Iterator[Result]:
    """``classify_paths``, and with ``save_dir`` an annotated copy of each classified image written
    there (``annotate.save_annotated``); a copy that cannot be written (a full disk) fails its row,
    and the run goes on."""
    from edgecv.runtimes.pipeline.annotate import save_annotated
    from edgecv.runtimes.pipeline.images import MAX_PIXELS

    for r in classify_paths(rt, paths, batch_size=batch_size, topk=topk, keep_images=save_dir is not None,
                            max_pixels=MAX_PIXELS if max_pixels is None else max_pixels):
        if not r.error and save_dir is not None:
            try:
                save_annotated(r, save_dir)
            except EdgecvError as e:
                r.error = f"annotated copy not written: {e}"
            r.image = None
        yield r
