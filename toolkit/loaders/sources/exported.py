"""``torch.export`` archives (``.pt2``).  They carry their example input, so channels, input size
and whether the batch is dynamic are read from it; a static batch is kept (and said)."""
from __future__ import annotations

import torch

from edgecv.errors import EdgecvError
from edgecv.loaders.outputs import Frozen
from edgecv.loaders.request import LoadedModel, ModelRequest
from edgecv.loaders.sources.zips import embedded_spec, zip_names
from edgecv.spec import ModelSpec, per_channel, scale_resize


def matches(req: ModelRequest) -> bool:
    if req.path.suffix.lower() == ".pt2":
        return True
    names = zip_names(req.path) or ()
    return any(n.endswith(("serialized_exported_program.json", "models/model.json")) for n in names)


def _user_input_shape(ep):
    from torch.export.graph_signature import InputKind

    users = [s.arg.name for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in users[:1]:
            val = node.meta.get("val")
            return None if val is None else tuple(val.shape)
    return None


def load(req: ModelRequest) -> LoadedModel:
    from edgecv.fileio import sha256_file
    from edgecv.loaders.finish import foreign_spec
    from edgecv.loaders.safe_load import guarded_torch_loads, refuse_native_code

    extra = {"edgecv_spec.json": ""}
    if not req.unsafe:
        refuse_native_code(req.path)
    try:
        with guarded_torch_loads(req.path, enabled=not req.unsafe):
            ep = torch.export.load(str(req.path), extra_files=extra)
    except EdgecvError:
        raise
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad archives
        raise EdgecvError(f"{req.path} is not a loadable torch.export archive "
                          f"({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
    spec = embedded_spec(extra) or foreign_spec(req.arch or "exported_program", req.num_classes)
    lm = LoadedModel(Frozen(ep.module()), spec, "exported_program", req.path, sha256_file(req.path))
    shape = _user_input_shape(ep)
    if shape is not None and len(shape) == 4:
        b, c, h, w = shape
        if isinstance(b, int):
            lm.fixed_batch = b
            lm.notes.append(f"the .pt2 was exported for batch {b} only; re-export it with dynamic_shapes "
                            "({0: torch.export.Dim('batch')}) for a dynamic batch")
        if all(isinstance(v, int) for v in (c, h, w)) and spec.provenance.get("input_size") != "model":
            order = "GRAY" if c == 1 else "RGB"
            d = spec.to_dict()
            d.update(channel_order=order, input_size=(h, w), mean=per_channel(spec.mean, order),
                     std=per_channel(spec.std, order), resize=scale_resize(spec.resize, spec.input_size, (h, w)))
            prov = dict(spec.provenance)
            spec = ModelSpec.from_dict(d)
            spec.provenance = {**prov, "input_size": "inferred", "channel_order": "inferred"}
            lm.spec = spec
            lm.notes.append(f"input {c}x{h}x{w} read from the archive's example input")
    return lm
