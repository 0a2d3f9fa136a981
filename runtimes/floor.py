"""The hardware's floor for a model (deploy side, onnx + ONNX Runtime): the model's FLOPs counted
from its ONNX graph, this machine's peak measured in the same run with one large MatMul in ONNX
Runtime (fp32, and u8 x s8 MatMulInteger for int8), and each latency as a multiple of
FLOPs / peak.  A model at ~1x its floor is compute-bound at the cores' MatMul speed."""
from __future__ import annotations

import time
from functools import lru_cache

import numpy as np

COUNTED = ("Conv", "ConvInteger", "QLinearConv", "MatMul", "MatMulInteger", "QLinearMatMul", "Gemm", "FusedMatMul")


def _shape(vi) -> list[int] | None:
    dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    return dims if dims and all(d > 0 for d in dims) else None


def model_flops(path, batch: int = 1) -> tuple[float, list[str]]:
    """(multiply-adds x 2 at ``batch``, notes).  Conv / MatMul / Gemm only (they dominate
    classifiers).  A ``Scan`` body (edgecv's per-sample ODConv convolution) is counted once per
    iteration; Loop / If bodies are not counted, and that is said."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    for vi in m.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_value = batch
    m = _inferred(m)
    flops, skipped, notes = _graph_flops(m.graph, m.opset_import)
    if skipped:
        notes.append(f"{skipped} Conv/MatMul without static shapes not counted")
    return flops, sorted(set(notes))


def _inferred(m):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception:  # noqa: BLE001 - partial shapes still count what they can
        return m


def _scan_flops(n, shapes, opsets) -> tuple[float, int, list[str]] | None:
    """FLOPs of a Scan: its body counted with per-iteration shapes, times the trip count."""
    import copy

    from onnx import helper

    body = next((a.g for a in n.attribute if a.name == "body"), None)
    n_scan = next((a.i for a in n.attribute if a.name == "num_scan_inputs"), 0)
    axes = next((list(a.ints) for a in n.attribute if a.name == "scan_input_axes"), None)
    if body is None or not n_scan or any(axes or []):
        return None
    outer = [shapes.get(name) for name in n.input]
    n_state = len(n.input) - n_scan
    if any(s is None for s in outer):
        return None
    trips = outer[n_state][0]
    g = copy.deepcopy(body)
    for vi, shape in zip(g.input, outer[:n_state] + [s[1:] for s in outer[n_state:]]):
        vi.type.tensor_type.shape.Clear()
        for d in shape:
            vi.type.tensor_type.shape.dim.add().dim_value = d
    inner = _inferred(helper.make_model(g, opset_imports=list(opsets)))
    flops, skipped, notes = _graph_flops(inner.graph, opsets)
    return flops * trips, skipped, notes


def _graph_flops(graph, opsets) -> tuple[float, int, list[str]]:
    shapes = {vi.name: _shape(vi) for vi in [*graph.input, *graph.value_info, *graph.output]}
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    flops, skipped, notes = 0.0, 0, []
    for n in graph.node:
        if n.op_type == "Scan":
            counted = _scan_flops(n, shapes, opsets)
            if counted is None:
                notes.append("Scan bodies without static shapes not counted")
            else:
                flops, skipped, notes = flops + counted[0], skipped + counted[1], notes + counted[2]
            continue
        if n.op_type in ("Loop", "If"):
            notes.append(f"{n.op_type} bodies not counted")
            continue
        if n.op_type not in COUNTED:
            continue
        if n.op_type in ("Conv", "ConvInteger", "QLinearConv"):
            w_name = n.input[3] if n.op_type == "QLinearConv" else n.input[1]
            w, y = shapes.get(w_name), shapes.get(n.output[0])
            if not w or not y:
                skipped += 1
                continue
            flops += 2.0 * float(np.prod(y)) * float(np.prod(w[1:]))
        else:
            a_name = n.input[0]
            b_name = n.input[3] if n.op_type == "QLinearMatMul" else n.input[1]
            a, b = shapes.get(a_name), shapes.get(b_name)
            y = shapes.get(n.output[0])
            if not a or not b or not y:
                skipped += 1
                continue
            trans_a = next((x.i for x in n.attribute if x.name == "transA"), 0) if n.op_type == "Gemm" else 0
            flops += 2.0 * float(np.prod(y)) * (a[0] if trans_a else a[-1])
    return flops, skipped, notes


def _matmul_model(n: int, int8: bool) -> bytes:
    from onnx import TensorProto, helper

    if int8:
        a = helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])
        b = helper.make_tensor_value_info("b", TensorProto.INT8, [n, n])
        y = helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
    else:
        a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])
        b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
    g = helper.make_graph([node], "peak", [a, b], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


@lru_cache(maxsize=4)
def peak_gflops(int8: bool = False, n: int = 2048, seconds: float = 1.0, threads: int | None = None) -> float:
    """This machine's best MatMul throughput in ONNX Runtime (GFLOP/s, or GOP/s for u8 x s8)."""
    from edgecv.runtimes.backends.onnxrt import ort_session

    sess = ort_session(_matmul_model(n, int8), threads=threads)
    rng = np.random.default_rng(0)
    feed = ({"a": rng.integers(0, 255, (n, n), dtype=np.uint8), "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}
            if int8 else {"a": rng.standard_normal((n, n), dtype=np.float32),
                          "b": rng.standard_normal((n, n), dtype=np.float32)})
    sess.run(None, feed)
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 3:
        t = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t)
    # The best run, not the median: a peak is what the cores can do, and on a shared machine the
    # slower runs measure the neighbours.
    return 2.0 * n ** 3 / float(np.min(times)) / 1e9
