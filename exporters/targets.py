"""Deploy targets: the runtime an exported file must load in, and fitting a graph to it (torch-free).

``edgecv export m.pt --target ort-1.16`` writes a file that ONNX Runtime 1.16 loads: the graph's
opset is lowered with ONNX's version converter and its IR version stamped down, or export stops
naming the operator that has no form at the target's opset.  The ONNX Runtime rows were measured
(``benchmarks/ort_targets.py`` installs each release and loads models stamped with every IR version
and opset: ``benchmarks/results/ort_targets.md``); the TensorRT and JetPack rows are NVIDIA's
documented parser limits, not run here (no GPU).  A new target is one row.
"""
from __future__ import annotations

from dataclasses import dataclass

from edgecv.errors import EdgecvError


@dataclass(frozen=True)
class Target:
    name: str
    family: str  # onnxruntime | tensorrt: what ODConv's auto mode and the INT8 variant optimise for
    ir_version: int | None  # highest IR version it loads (None: whatever this onnx writes)
    opset: int | None  # highest default-domain opset it implements
    requirement: str | None = None  # pip requirement that installs it (tests run files there)
    source: str = ""

    def describe(self) -> str:
        limits = (f"IR <= {self.ir_version}, opset <= {self.opset}" if self.opset else "no version limit")
        return f"{self.name}: {self.family}, {limits}"


_M = "measured: benchmarks/ort_targets.py"
TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("onnxruntime", "onnxruntime", None, None, source="the ONNX Runtime installed with edgecv"),
    Target("tensorrt", "tensorrt", None, None, source="the TensorRT installed where the engine is built"),
    Target("ort-1.14", "onnxruntime", 8, 18, source="ONNX Runtime's version table; not measured (no wheel for "
           "this Python)"),
    Target("ort-1.15", "onnxruntime", 9, 19, "onnxruntime==1.15.1", _M),
    Target("ort-1.16", "onnxruntime", 9, 19, "onnxruntime==1.16.3", _M),
    Target("ort-1.17", "onnxruntime", 9, 20, "onnxruntime==1.17.3", _M),
    Target("ort-1.18", "onnxruntime", 10, 21, "onnxruntime==1.18.1", _M),
    Target("ort-1.19", "onnxruntime", 10, 21, "onnxruntime==1.19.2", _M),
    Target("ort-1.20", "onnxruntime", 10, 21, "onnxruntime==1.20.1", _M),
    Target("ort-1.21", "onnxruntime", 10, 22, "onnxruntime==1.21.1", _M),
    Target("ort-1.22", "onnxruntime", 10, 22, "onnxruntime==1.22.1", _M),
    Target("tensorrt-8.6", "tensorrt", 9, 17, source="TensorRT 8.6 ONNX parser: opset <= 17 (NVIDIA docs)"),
    Target("tensorrt-10", "tensorrt", 10, 20, source="TensorRT 10.0 ONNX parser (NVIDIA support matrix)"),
    Target("jetson-jp6", "tensorrt", 9, 17, source="JetPack 6.0 ships TensorRT 8.6 (opset <= 17) and "
           "Jetson Zoo ONNX Runtime 1.17+ (IR <= 9)"),
)}

# Element types an IR version introduced: a graph that holds one cannot be stamped lower.
_TYPES_SINCE_IR = {9: (17, 18, 19, 20), 10: (21, 22), 11: (23,)}  # float8s; (u)int4; float4e2m1


def resolve(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise EdgecvError(f"--target {name!r} is not a known runtime",
                          f"choose one of: {', '.join(TARGETS)}") from None


def default_opset(proto) -> int:
    """The default-domain opset a graph imports (0 when none)."""
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def _elem_types(proto) -> set[int]:
    g = proto.graph
    types = {t.data_type for t in g.initializer}
    for vi in (*g.input, *g.output, *g.value_info):
        types.add(vi.type.tensor_type.elem_type)
    for n in g.node:
        types.update(a.t.data_type for a in n.attribute if a.HasField("t"))
    return types


def _drop_unused_domains(proto) -> None:
    """Opset imports of domains no node uses (ONNX Runtime's optimiser stamps every domain it knows,
    ``ai.onnx.ml`` 5 among them, which an older runtime refuses)."""
    used = {n.domain or "" for n in proto.graph.node}
    for f in proto.functions:
        used |= {n.domain or "" for n in f.node} | {f.domain}
    keep = [o for o in proto.opset_import if (o.domain or "") in used or o.domain in ("", "ai.onnx")]
    if len(keep) != len(proto.opset_import):
        del proto.opset_import[:]
        proto.opset_import.extend(keep)


def _blocking_op(proto, opset: int) -> str | None:
    """The first default-domain operator with no schema at ``opset``, as ``Name (since opset N)``."""
    import onnx

    for n in proto.graph.node:
        if n.domain not in ("", "ai.onnx"):
            continue
        try:
            onnx.defs.get_schema(n.op_type, opset, "")
        except onnx.defs.SchemaError:
            since = onnx.defs.get_schema(n.op_type).since_version
            return f"{n.op_type} (node {n.name or '?'}, in ONNX since opset {since})"
    return None


def fit(proto, target: Target):
    """``proto`` lowered to ``target``'s opset and IR version (the same proto when it already fits).

    Raises ``EdgecvError`` naming the operator or data type the target cannot hold.
    """
    import onnx
    from onnx import version_converter

    _drop_unused_domains(proto)
    have = default_opset(proto)
    if target.opset and have > target.opset:
        blocking = _blocking_op(proto, target.opset)
        if blocking:
            raise EdgecvError(f"{target.name} implements opset {target.opset}; the model needs {blocking}",
                              "choose a newer --target, or replace that layer in the model")
        try:
            converted = version_converter.convert_version(proto, target.opset)
        except Exception as e:  # noqa: BLE001 - the converter raises RuntimeError / ConvertError
            first = str(e).strip().splitlines()[0][:200]
            raise EdgecvError(f"ONNX's version converter cannot lower opset {have} to {target.opset} for "
                              f"{target.name}: {first}", "choose a newer --target") from None
        converted.functions.extend(f for f in proto.functions if f not in converted.functions)
        proto = converted
    if target.ir_version and proto.ir_version > target.ir_version:
        newer = [t for ir, ts in _TYPES_SINCE_IR.items() if ir > target.ir_version for t in ts]
        held = _elem_types(proto) & set(newer)
        if held:
            name = onnx.helper.tensor_dtype_to_string(sorted(held)[0])
            raise EdgecvError(f"{target.name} reads IR version {target.ir_version}; the graph holds {name}, "
                              "which needs a newer one", "choose a newer --target")
        proto.ir_version = target.ir_version
    return proto


def fit_file(path, name: str) -> bool:
    """Fit the ONNX file at ``path`` to target ``name`` in place (through a temporary file); whether
    it changed.  For files made after the fp32 export (INT8 / FP16 tools re-stamp the IR version)."""
    import onnx

    from edgecv.fileio import atomic_write

    target = resolve(name)
    if not target.opset and not target.ir_version:
        return False
    proto = onnx.load(str(path))
    before = (proto.ir_version, default_opset(proto), len(proto.opset_import))
    proto = fit(proto, target)
    if (proto.ir_version, default_opset(proto), len(proto.opset_import)) == before:
        return False
    atomic_write(path, lambda tmp: onnx.save(proto, tmp))
    return True


def table_markdown() -> str:
    """The target table as the docs show it."""
    rows = ["| target | family | highest IR | highest opset | where the numbers come from |", "|---|---|---|---|---|"]
    for t in TARGETS.values():
        rows.append(f"| `{t.name}` | {t.family} | {t.ir_version or 'any'} | {t.opset or 'any'} | {t.source} |")
    return "\n".join(rows)
