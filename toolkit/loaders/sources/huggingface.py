"""A Hugging Face image-classification directory as ``save_pretrained`` writes it (``config.json``,
``model.safetensors``, ``preprocessor_config.json``): ViT, Swin, ConvNeXt, DeiT, BEiT, ...

The spec comes from the preprocessor config (size / crop, resample, rescale, mean / std), the labels
from ``id2label`` (unless they are the placeholder ``LABEL_0``...).  Loaded offline only
(``local_files_only``); needs the ``hf`` extra (transformers).
"""
from __future__ import annotations

import json
from pathlib import Path

from edgecv.errors import EdgecvError
from edgecv.loaders.request import LoadedModel, ModelRequest
from edgecv.spec import PREPROCESSING_FIELDS, ModelSpec

_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}  # PIL.Image.Resampling values


def matches(req: ModelRequest) -> bool:
    return req.path.is_dir() and (req.path / "config.json").is_file()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise EdgecvError(f"{path} is not readable JSON ({e})") from None


def spec_fields(pp: dict) -> dict:
    """ModelSpec fields of a preprocessor config; refuses what the deploy pipeline cannot reproduce."""
    kind = pp.get("image_processor_type", "image processor")
    if not pp.get("do_resize", True):
        raise EdgecvError(f"{kind} does not resize: the input size would follow each image",
                          "state --resize and --imgsz")
    resample = pp.get("resample", 2)
    if resample not in _RESAMPLE:
        raise EdgecvError(f"{kind} resamples with PIL filter {resample}; edgecv reproduces nearest / bilinear / bicubic",
                          "state --interpolation to accept the closest one")
    size = pp.get("size", {"height": 224, "width": 224})
    size = {"shortest_edge": size} if isinstance(size, int) else size
    crop = pp.get("crop_size") if pp.get("do_center_crop") else None
    crop = (crop, crop) if isinstance(crop, int) else (crop["height"], crop["width"]) if crop else None
    if "height" in size:
        resize = (int(size["height"]), int(size["width"]))
    elif "shortest_edge" in size:
        s = int(size["shortest_edge"])
        if "crop_pct" in pp and kind.startswith("ConvNext"):  # ConvNeXt: s / crop_pct then crop s
            resize, crop = ((int(s / pp["crop_pct"]), (s, s)) if s < 384 else ((s, s), None))
        else:
            resize = s
    else:
        raise EdgecvError(f"{kind} size {size} is not height/width or shortest_edge", "state --resize and --imgsz")
    if crop is None and isinstance(resize, int):
        raise EdgecvError(f"{kind} resizes the shorter side without a crop: the input size would vary",
                          "state --imgsz H W")
    if pp.get("do_rescale", True) and abs(pp.get("rescale_factor", 1 / 255) - 1 / 255) > 1e-9:
        raise EdgecvError(f"{kind} rescales by {pp['rescale_factor']}, not 1/255")
    if not pp.get("do_rescale", True):
        raise EdgecvError(f"{kind} does not rescale to [0, 1]; edgecv's pipeline is ToTensor-based")
    mean, std = (pp.get("image_mean", (0.5,) * 3), pp.get("image_std", (0.5,) * 3)) if pp.get("do_normalize", True) \
        else ((0.0,) * 3, (1.0,) * 3)
    input_size = crop or resize
    return {"input_size": tuple(input_size), "resize": None if resize == input_size else resize,
            "interpolation": _RESAMPLE[resample], "mean": tuple(mean), "std": tuple(std)}


def load(req: ModelRequest) -> LoadedModel:
    try:
        from transformers import AutoModelForImageClassification
    except ImportError:
        raise EdgecvError(f"{req.path} is a Hugging Face directory and needs transformers",
                          "install the extra: pip install 'edgecv[hf]'") from None
    from edgecv.fileio import sha256_file

    bin_weights = req.path / "pytorch_model.bin"
    if bin_weights.is_file() and not (req.path / "model.safetensors").is_file() and not req.unsafe:
        from edgecv.loaders.weights import read

        read(bin_weights, unsafe=False)  # weights only, as for any torch file: refused here, by the same rule
    config = _read_json(req.path / "config.json")
    pp_path = req.path / "preprocessor_config.json"
    fields = spec_fields(_read_json(pp_path)) if pp_path.is_file() else {}
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model = AutoModelForImageClassification.from_pretrained(str(req.path), local_files_only=True)
    except Exception as e:  # noqa: BLE001 - ValueError/OSError/KeyError for unknown or broken dirs
        raise EdgecvError(f"{req.path} does not load as a Hugging Face image classifier "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
    id2label = {int(k): v for k, v in (config.get("id2label") or {}).items()}
    n = model.config.num_labels
    labels = [id2label[i] for i in range(n)] if sorted(id2label) == list(range(n)) else []
    if labels and all(lab == f"LABEL_{i}" for i, lab in enumerate(labels)):
        labels = []
    channels = int(config.get("num_channels", 3))
    spec = ModelSpec(arch=f"hf/{config.get('model_type', 'model')}", num_classes=n, labels=labels,
                     channel_order="GRAY" if channels == 1 else "RGB",
                     **({**fields, "mean": fields["mean"][:1], "std": fields["std"][:1]} if fields and channels == 1
                        else fields))
    prov = {f: ("model" if f in fields else "assumed") for f in PREPROCESSING_FIELDS}
    spec.provenance = {**prov, "channel_order": "model", "num_classes": "model",
                       **({"labels": "model"} if labels else {})}
    weights = next((p for p in ("model.safetensors", "pytorch_model.bin") if (req.path / p).exists()), "config.json")
    lm = LoadedModel(model.eval(), spec, "huggingface", req.path, sha256_file(req.path / weights),
                     {"model_type": config.get("model_type"), "architectures": config.get("architectures")})
    if not fields:
        lm.notes.append("no preprocessor_config.json: preprocessing assumed")
    return lm
