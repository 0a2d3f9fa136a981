"""Typed backend options: each backend declares the options it takes as a frozen dataclass.

``load(path, backend, **options)`` checks the names against the chosen backend's dataclass before
anything heavy is imported: an option the backend cannot take is a one-line ``EdgecvError`` (exit
2) that names the command-line flag and what the backend does take, never a ``TypeError``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from edgecv.errors import EdgecvError


def _flag(name: str, help: str = ""):
    return {"flag": name, "help": help}


@dataclass(frozen=True)
class OnnxRuntimeOptions:
    providers: tuple[str, ...] | None = field(default=None, metadata=_flag("--providers"))
    graph_optimization_level: str = field(default="all", metadata=_flag("--graph-optimization-level"))
    intra_op_threads: int | None = field(default=None, metadata=_flag("--threads"))


@dataclass(frozen=True)
class TensorRTOptions:
    pass


@dataclass(frozen=True)
class TorchOptions:
    device: str = field(default="auto", metadata=_flag("--device"))
    arch: str | None = field(default=None, metadata=_flag("--arch"))
    num_classes: int | None = field(default=None, metadata=_flag("--num-classes"))
    unsafe_load: bool = field(default=False, metadata=_flag("--unsafe-load"))


def flags() -> dict[str, str]:
    """Option name -> its command-line flag, over every registered backend's options."""
    from edgecv.runtimes import BACKENDS

    return {f.name: f.metadata.get("flag", "--" + f.name.replace("_", "-"))
            for b in BACKENDS.values() for f in fields(b.options)}


def build_options(cls, backend: str, options: dict):
    """``cls(**options)`` where every name is one of ``cls``'s fields; else a one-line error."""
    known = {f.name for f in fields(cls)}
    unknown = [k for k in options if k not in known]
    if unknown:
        names = ", ".join(flags().get(k, k) for k in unknown)
        takes = ", ".join(flags().get(k, k) for k in sorted(known)) or "no options"
        raise EdgecvError(f"the {backend} backend does not take {names}",
                          f"it takes {takes}; leave the option out or choose another --backend")
    return cls(**options)
