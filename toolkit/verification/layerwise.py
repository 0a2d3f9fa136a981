"""Find the first torch module whose ONNX counterpart diverges (build side: torch + onnx + ORT).

Polygraphy makes users do this by hand (``--onnx-outputs mark all`` then ``debug reduce``).  Here:
every ONNX node is mapped to the torch module it came from (the dynamo exporter's
``pkg.torch.onnx.name_scopes`` metadata, or the TorchScript exporter's ``/a/a.0/conv/Conv`` node
names); a module's ONNX output is the last node in its scope.  Modules are compared in torch's
execution (completion) order, ``chunk`` at a time: only that chunk's tensors are marked as extra
graph outputs and captured by forward hooks, so memory stays bounded on ViT-sized graphs, and the
search stops at the first chunk that holds a divergence.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
import torch

from edgecv.parity import TOLERANCES, Tolerance
from edgecv.runtimes.modelfile.onnx_file import node_module  # noqa: F401  (re-exported)
from edgecv.runtimes.backends.onnxrt import ort_session

OUT_PREFIX = "edgecv_probe__"


@dataclass
class Divergence:
    module: str
    module_type: str
    max_abs: float
    max_rel: float
    op_types: list[str] = field(default_factory=list)
    compared: int = 0  # modules compared up to and including this one
    fused: list[str] = field(default_factory=list)  # earlier modules with no ONNX output of their own
    note: str = ""

    def describe(self) -> str:
        ops = ", ".join(self.op_types[:6])
        fused = f"; includes {', '.join(self.fused)} (fused into it by the exporter)" if self.fused else ""
        return (f"{self.module} ({self.module_type}; ONNX ops {ops}): max abs {self.max_abs:.3g}, "
                f"max rel {self.max_rel:.3g}{fused}" + (f"; {self.note}" if self.note else ""))


def module_outputs(model: onnx.ModelProto) -> dict[str, tuple[str, list[str]]]:
    """module name -> (output value of its last node, op types in its scope), own scope only."""
    found: dict[str, tuple[str, list[str]]] = {}
    for node in model.graph.node:  # ONNX graphs are topologically sorted
        name = node_module(node)
        if name is None or not node.output:
            continue
        prefixes = [name] + [name[:i] for i in range(len(name)) if name[i] == "."]
        for mod in prefixes:
            out, ops = found.get(mod, ("", []))
            found[mod] = (node.output[0], ops + [node.op_type])
    return found


def node_to_module(model: onnx.ModelProto, node_name: str) -> str | None:
    node = next((n for n in model.graph.node if n.name == node_name), None)
    return node_module(node) if node is not None else None


def _run_hooked(model: torch.nn.Module, x: torch.Tensor, hooks: dict[str, callable]) -> None:
    """One forward pass with ``hooks[name](module, output)`` on the named modules."""
    mods = dict(model.named_modules())

    def wrap(fn):
        def hook(m, _inputs, out):
            fn(m, out)  # returns None: a hook that returns a value would replace the output

        return hook

    handles = [mods[n].register_forward_hook(wrap(fn)) for n, fn in hooks.items()]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()


def _torch_outputs(model: torch.nn.Module, names: list[str], x: torch.Tensor) -> dict[str, np.ndarray]:
    got: dict[str, np.ndarray] = {}

    def keep(name):
        def fn(_m, out):
            if isinstance(out, torch.Tensor):
                got[name] = out.detach().float().cpu().numpy().copy()  # copy: in-place ReLUs follow
        return fn

    _run_hooked(model, x, {n: keep(n) for n in names})
    return got


def execution_order(model: torch.nn.Module, x: torch.Tensor) -> list[tuple[str, str]]:
    """(name, class) of every submodule, ordered by its *last* completion.

    A module called several times (torchvision's Bottleneck reuses one ReLU three times) is
    compared by its last output, both in torch (the hook keeps the last) and in ONNX (the last node
    of its scope), so it must also be ordered by its last call."""
    last: dict[str, tuple[int, str]] = {}
    counter = iter(range(1 << 62))
    _run_hooked(model, x, {n: (lambda m, _o, n=n: last.__setitem__(n, (next(counter), type(m).__name__)))
                           for n, _ in model.named_modules() if n})
    return [(n, t) for n, (_, t) in sorted(last.items(), key=lambda kv: kv[1][0])]


def first_divergence(onnx_path, model: torch.nn.Module, x: np.ndarray, tol: Tolerance = TOLERANCES["fp32"],
                     chunk: int = 48, providers=("CPUExecutionProvider",)) -> Divergence | None:
    """The first module (execution order) whose output differs beyond ``tol.bound`` (the element
    bound ``atol + rtol * max|ref|`` of the candidate's tolerance)."""
    proto = onnx.load(str(onnx_path))
    outputs = module_outputs(proto)
    xt = torch.from_numpy(x)
    full = execution_order(model, xt)
    order = [(n, t) for n, t in full if n in outputs]
    position = {n: i for i, (n, _) in enumerate(full)}
    compared = 0
    previous = -1  # position (in ``full``) of the last module compared
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        probe = onnx.ModelProto()
        probe.CopyFrom(proto)
        existing = {o.name for o in probe.graph.output}
        marks = []
        for n, _ in part:
            value = outputs[n][0]
            marks.append(value)
            if value not in existing:
                probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(value))
                existing.add(value)
        sess = ort_session(probe.SerializeToString(), providers)
        names = [o.name for o in sess.get_outputs()]
        values = dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: x})))
        ref = _torch_outputs(model, [n for n, _ in part], xt)
        for (n, t), value in zip(part, marks):
            a, b = ref.get(n), values.get(value)
            if a is None or b is None or a.shape != b.shape:
                continue
            compared += 1
            err = float(np.abs(a - b.astype(np.float32)).max(initial=0.0))
            scale = float(np.abs(a).max(initial=0.0)) or 1.0
            if err > tol.bound(a):
                # leaf modules between the last match and this one left no ONNX output (e.g. a Conv
                # whose BatchNorm was folded into it): the divergence may sit in any of them
                fused = [m for m, _ in full[previous + 1:position[n]]
                         if m not in outputs and not any(k.startswith(m + ".") for k, _ in full)]
                return Divergence(n, t, err, err / scale, outputs[n][1], compared, fused)
            previous = position[n]
        del probe, sess, values, ref
    return None
