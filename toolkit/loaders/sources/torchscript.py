"""TorchScript archives (``torch.jit.save``), with the edgecv spec when one was embedded."""
from __future__ import annotations

import torch

from edgecv.errors import EdgecvError
from edgecv.loaders.request import LoadedModel, ModelRequest
from edgecv.loaders.sources.zips import embedded_spec, zip_names


def matches(req: ModelRequest) -> bool:
    names = zip_names(req.path)
    return names is not None and any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def load(req: ModelRequest) -> LoadedModel:
    from edgecv.fileio import sha256_file
    from edgecv.loaders.finish import foreign_spec

    extra = {"edgecv_spec.json": ""}
    try:
        m = torch.jit.load(str(req.path), map_location="cpu", _extra_files=extra).eval()
    except RuntimeError as e:
        raise EdgecvError(f"{req.path} is a damaged TorchScript archive ({str(e).splitlines()[0][:120]})") from None
    spec = embedded_spec(extra) or foreign_spec(req.arch or "torchscript", req.num_classes)
    return LoadedModel(m, spec, "torchscript", req.path, sha256_file(req.path))
