"""A Hugging Face image-classification directory as ``save_pretrained`` writes it (``config.json``,
``model.safetensors``, ``preprocessor_config.json``): ViT, Swin, ConvNeXt, DeiT, BEiT, MobileViT, ...

The spec comes from the image processor as it runs (``hf_processor``: built by ``AutoImageProcessor``,
its resolved attributes read), the labels from ``id2label`` (unless they are the placeholder
``LABEL_0``...), and the processor itself travels with the model for the export's preprocessing
self-check.  Loaded offline only (``local_files_only``, no remote code); needs the ``hf`` extra.
"""
from __future__ import annotations

import json
from pathlib import Path

from edgecv.errors import EdgecvError
from edgecv.loaders.request import LoadedModel, ModelRequest
from edgecv.spec import PREPROCESSING_FIELDS, ModelSpec



def matches(req: ModelRequest) -> bool:
    return req.path.is_dir() and (req.path / "config.json").is_file()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise EdgecvError(f"{path} is not readable JSON ({e})") from None


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
    fields, pipe = {}, None
    if pp_path.is_file():
        from edgecv.loaders.sources.hf_processor import load_processor, pipeline, spec_fields

        _read_json(pp_path)  # a broken file is named as such
        proc = load_processor(req.path)  # as the user's code builds it: class, backend, its own defaults
        fields, pipe = spec_fields(proc), pipeline(proc)
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
    if channels == 1 and fields:
        fields = {**fields, "channel_order": "GRAY", "mean": fields["mean"][:1], "std": fields["std"][:1]}
    spec = ModelSpec(arch=f"hf/{config.get('model_type', 'model')}", num_classes=n, labels=labels,
                     **{"channel_order": "GRAY" if channels == 1 else "RGB", **fields})
    prov = {f: ("model" if f in fields else "assumed") for f in PREPROCESSING_FIELDS}
    spec.provenance = {**prov, "channel_order": "model", "num_classes": "model",
                       **({"labels": "model"} if labels else {}),
                       **({"resampler": "model"} if "resampler" in fields else {})}
    weights = next((p for p in ("model.safetensors", "pytorch_model.bin") if (req.path / p).exists()), "config.json")
    lm = LoadedModel(model.eval(), spec, "huggingface", req.path, sha256_file(req.path / weights),
                     {"model_type": config.get("model_type"), "architectures": config.get("architectures")},
                     pipeline=pipe)
    if not fields:
        lm.notes.append("no preprocessor_config.json: preprocessing assumed")
    return lm
