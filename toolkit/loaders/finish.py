"""What every source's model goes through before use (build side): stated spec fields applied,
a foreign model probed for channels / input size / classes, the class-score output chosen."""
from __future__ import annotations

import torch

from edgecv.errors import EdgecvError
from edgecv.loaders import outputs, probe
from edgecv.loaders.request import LoadedModel, ModelRequest
from edgecv.spec import PREPROCESSING_FIELDS, ModelSpec, per_channel, scale_resize, show_value

# Sources whose model is not one of edgecv's own builders: its facts are probed, not trusted.
FOREIGN = {"torchscript", "exported_program", "pickled_module", "model_file", "huggingface", "module"}


def apply_stated(spec: ModelSpec, stated: dict) -> ModelSpec:
    stated = dict(stated)
    labels = stated.pop("labels", None)
    if "input_size" in stated and "resize" not in stated:
        resize = scale_resize(spec.resize, spec.input_size, stated["input_size"])
        prov = spec.provenance.get("resize")
        spec = ModelSpec.from_dict({**spec.to_dict(), "resize": resize})
        if prov:
            spec.provenance["resize"] = prov
    channel_order = stated.get("channel_order")
    if channel_order and "mean" not in stated and (channel_order == "GRAY") != (spec.channel_order == "GRAY"):
        stated.setdefault("mean", per_channel(spec.mean, channel_order))
        stated.setdefault("std", per_channel(spec.std, channel_order))
    order = stated.get("channel_order", spec.channel_order)
    for key in ("mean", "std"):  # --mean R G B for a GRAY model: one value, given three times
        v = stated.get(key)
        if v is not None and order == "GRAY" and len(v) == 3:
            if len(set(v)) != 1:
                raise EdgecvError(f"--{key} {' '.join(map(str, v))}: a GRAY model takes one value",
                                  f"repeat it three times, e.g. --{key} 0.5 0.5 0.5")
            stated[key] = tuple(v[:1])
    spec = spec.with_stated(**stated)
    if labels is not None:
        if len(labels) != spec.num_classes:
            raise EdgecvError(f"--labels gives {len(labels)} labels, but the model has {spec.num_classes} classes",
                              "pass the labels file the model was trained with")
        spec = spec.with_stated(labels=list(labels))
    return spec


def finish(lm: LoadedModel, req: ModelRequest) -> LoadedModel:
    spec = lm.spec
    labels = req.stated.get("labels")
    stated = {k: v for k, v in req.stated.items() if k != "labels"}
    if lm.kind in FOREIGN:
        spec = _probe(lm, spec, stated, req)
    else:
        spec = apply_stated(spec, stated)
    if labels is not None:
        spec = apply_stated(spec, {"labels": labels})
    if spec.provenance.get("resampler") not in ("stated", "model"):
        from edgecv.loaders.pipelines import installed_resampler

        spec.resampler = installed_resampler()  # the pipeline's Pillow: this environment's
        spec.provenance["resampler"] = "inferred"
    _settle_unused_rules(spec)
    lm.spec = spec
    assumed = spec.assumed()
    if assumed:
        lm.notes.append("preprocessing assumed, not stated: " + ", ".join(
            f"{f} {show_value(getattr(spec, f))}" for f in assumed))
    return lm


def _settle_unused_rules(spec: ModelSpec) -> None:
    """A crop or pad rule nobody stated is no assumption where this pipeline never crops (resize to
    the input size) or never pads (a shorter-side resize at least the crop): its value cannot matter."""
    r, (h, w) = spec.resize, spec.input_size
    crops = not (r is None or (isinstance(r, tuple) and tuple(r) == (h, w)))
    pads = crops and (spec.resize_edge == "longer" or not (isinstance(r, int) and r >= max(h, w)) and not (
        isinstance(r, tuple) and r[0] >= h and r[1] >= w))  # a letterbox pads whatever its box
    for name, used in (("crop_rule", crops), ("pad_rule", pads)):
        if not used and spec.provenance.get(name) == "assumed":
            spec.provenance[name] = "inferred"


def _probe(lm: LoadedModel, spec: ModelSpec, stated: dict, req: ModelRequest) -> ModelSpec:
    model = lm.model
    c = probe.input_channels(model)
    if c in (1, 3) and "channel_order" not in stated and (c == 1) != (spec.channel_order == "GRAY") \
            and spec.provenance.get("channel_order") != "model":
        order = "GRAY" if c == 1 else "RGB"
        spec = ModelSpec.from_dict({**spec.to_dict(), "channel_order": order, "mean": per_channel(spec.mean, order),
                                    "std": per_channel(spec.std, order)})
        spec.provenance["channel_order"] = "inferred"
    spec = apply_stated(spec, stated)
    batch = lm.fixed_batch or 2
    known = spec.provenance.get("input_size") in ("stated", "model", "inferred")
    h, w = spec.input_size
    if known:
        raw, reason = probe.forward(model, spec.channels, spec.input_size, batch)
        if raw is None:
            raise EdgecvError(f"{req.path.name} does not run on a {spec.channels}x{h}x{w} input ({reason})",
                              "state the input size with --imgsz H W" if spec.provenance.get("input_size") != "stated"
                              else "check --imgsz and --channel-order against the model")
    else:
        size, prov, raw, note = probe.infer_input_size(model, spec.channels, spec.input_size, batch)
        if prov is None:
            raise EdgecvError(f"{req.path.name} runs on none of the usual input sizes (at {h}x{w}: {note})",
                              "state the input size with --imgsz H W")
        if tuple(size) != spec.input_size:
            spec = apply_stated(spec, {"input_size": size})
        spec.provenance["input_size"] = prov
        lm.notes.append(note)
    out = outputs.pick(raw, req.output)  # a wrong --class-output is the user's error, said as such
    if out.ndim != 2:
        raise EdgecvError(f"the class scores have shape {tuple(out.shape)}, not (batch, classes)",
                          "pass --class-output NAME|INDEX of the class scores")
    n = int(out.shape[1])
    if req.num_classes is not None and req.num_classes != n:
        raise EdgecvError(f"--num-classes {req.num_classes}, but the model outputs {n} scores",
                          "leave --num-classes out: it is read from the model")
    if spec.num_classes != n or spec.provenance.get("num_classes") == "assumed":
        prov = "stated" if req.num_classes else "inferred"
        labels = spec.labels if len(spec.labels) == n else []
        spec = ModelSpec.from_dict({**spec.to_dict(), "num_classes": n, "labels": labels})
        spec.provenance["num_classes"] = prov
    if req.output is None:
        note = outputs.default_choice(raw)
        if note:
            lm.notes.append(note)
    if req.output is not None or not torch.is_tensor(raw):
        lm.model = outputs.SelectOutput(model, req.output).eval()
        spec.extra = {**spec.extra, "output": req.output or ("logits" if hasattr(raw, "logits") else "0")}
    return spec


def foreign_spec(name: str, num_classes: int | None) -> ModelSpec:
    """A model that says nothing about itself: ImageNet-style defaults, every one marked assumed."""
    spec = ModelSpec(arch=name, num_classes=num_classes or 1)
    spec.provenance = {**{f: "assumed" for f in PREPROCESSING_FIELDS},
                       "num_classes": "stated" if num_classes else "assumed"}
    return spec
