"""INT8 with accuracy held automatically: ONNX Runtime's static QDQ quantizer, then a check on
held-out images, then layers kept in fp32 until the model is within budget or says it cannot be.

1. ``quant_pre_process`` (shape inference, graph optimisation), calibration on real images through
   the model's own deploy preprocessing, ``quantize_static`` (QDQ, per-channel int8 weights).
2. Activation type by measurement: u8 (U8S8, ONNX Runtime's fast x86 path), u8 with
   ``reduce_range`` (7-bit weights: no u8 x s8 saturation on CPUs without VNNI), s8 (S8S8).  Each is
   checked against fp32 on the held-out images; the fastest within budget wins.  Where MatMuls
   with constant weights hold most of the weights (transformers), ``quantize_dynamic`` of the
   MatMuls is one more candidate ("dynamic": 7-bit int8 weights, activations quantized per batch
   at run time by DynamicQuantizeLinear + MatMulInteger, which ONNX Runtime fuses into
   DynamicQuantizeMatMul; no QDQ pairs around the window/head reshapes that make static QDQ slow
   there; TensorRT cannot parse it).
3. Over budget: ``qdq_loss_debug`` compares fp32 and QDQ activations tensor by tensor; the tensors
   int8 represents worst (lowest SQNR) have their producer and consumers kept in fp32; repeat.
4. The speed against fp32 is measured on this machine, interleaved, and said, faster or not.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edgecv.errors import CheckFailed, EdgecvError
from edgecv.exporters.precision.calib import CalibSet, load_calibration, reader

STATIC = ("u8", "u8-reduced", "s8")  # QDQ, calibrated
ACTIVATIONS = (*STATIC, "dynamic")
METHODS = ("minmax", "entropy", "percentile")


@dataclass
class Int8Options:
    calib: Path
    method: str = "minmax"
    activations: str = "auto"  # auto | u8 | u8-reduced | s8
    per_channel: bool = True
    max_accuracy_drop: float = 0.005  # labelled held-out images: top-1 accuracy (fraction)
    min_agreement: float = 0.99  # top-1 agreement with fp32 on held-out images
    max_rounds: int = 6
    per_round: int = 1  # layers moved to fp32 per round
    keep_fp32: tuple[str, ...] = ()  # node names the user keeps in fp32
    bench_seconds: float = 1.0
    target_cpu: str | None = None  # avx2 | avx512 | avx512-vnni | arm64; None: this machine


TARGET_CPUS = {"avx2": "x86-avx2", "avx512": "x86-avx512", "avx512-vnni": "x86-vnni", "arm64": "arm64-dotprod"}


def int8_candidates(activations: str, here: str, there: str) -> list[str]:
    """Activation variants to try for a file built on kernels ``here`` that runs on ``there``.

    Where the target saturates (x86 without VNNI) and this machine does not run its kernels, only
    reduce-range keeps the numbers measured here; elsewhere u8 and s8 are the fast candidates.
    """
    if activations != "auto":
        return [activations]
    from edgecv.cpuinfo import SATURATING_KERNELS

    if there in SATURATING_KERNELS:
        return ["u8", "u8-reduced", "s8"] if here == there else ["u8-reduced"]
    return ["u8", "s8"]


@dataclass
class Attempt:
    activations: str
    kept_fp32: list[str]
    agreement: float
    accuracy: float | None
    ms: float
    ok: bool


@dataclass
class Int8Result:
    path: Path
    chosen: Attempt
    fp32_ms: float
    int8_ms: float
    fp32_accuracy: float | None
    held_out: int
    separate: bool
    checked: int  # images the top-1 agreement was measured on (calibration + held-out)
    attempts: list[Attempt] = field(default_factory=list)
    kept_modules: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return self.fp32_ms / self.int8_ms if self.int8_ms else 0.0

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("path",)}
        d.update(path=str(self.path), speedup=self.speedup)
        return d


def _session(path):
    from edgecv.runtimes.backends.onnxrt import ort_session

    return ort_session(str(path))


def _run(sess, x: np.ndarray, batch: int = 16) -> np.ndarray:
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def time_ms(sessions: list, x1: np.ndarray, seconds: float) -> list[float]:
    """Median batch-1 latency of each session, measured in alternation so drift hits all alike."""
    names = [s.get_inputs()[0].name for s in sessions]
    for s, n in zip(sessions, names):
        s.run(None, {n: x1})
    times: list[list[float]] = [[] for _ in sessions]
    slice_end = time.perf_counter() + seconds * len(sessions)
    while time.perf_counter() < slice_end or min(len(t) for t in times) < 5:
        for s, n, t in zip(sessions, names, times):
            for _ in range(3):
                t0 = time.perf_counter()
                s.run(None, {n: x1})
                t.append(time.perf_counter() - t0)
    return [float(np.median(t) * 1e3) for t in times]


def _judge(cs: CalibSet, ref_all: np.ndarray, got_all: np.ndarray, got: np.ndarray, fp32_acc, opts: Int8Options):
    """Within budget: top-1 agreement with fp32 on every image (calibration fixes ranges, not
    labels, so its images are fair for agreement, and more images resolve smaller differences),
    and on labelled held-out images the accuracy drop: the two rules ``edgecv verify`` applies."""
    agreement = float(np.mean(ref_all.argmax(1) == got_all.argmax(1)))
    ok = agreement >= opts.min_agreement - 1e-9
    acc = None
    if cs.labelled:
        lab = cs.held_out_truth >= 0
        acc = float(np.mean(got.argmax(1)[lab] == cs.held_out_truth[lab]))
        ok = ok and fp32_acc - acc <= opts.max_accuracy_drop + 1e-9
    return agreement, acc, ok


def _pre_process(src: Path, tmp: Path, notes: list[str]) -> Path:
    import onnx
    from onnxruntime.quantization import quant_pre_process

    pre = tmp / "pre.onnx"
    try:
        quant_pre_process(str(src), str(pre))
    except Exception as e:  # noqa: BLE001 - symbolic shape inference gives up on some graphs
        notes.append(f"quant_pre_process skipped ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})")
        shutil.copy(src, pre)
    m = onnx.load(str(pre))
    for i, n in enumerate(m.graph.node):  # the quantizer excludes nodes by name
        if not n.name:
            n.name = f"{n.op_type}_{i}"
    onnx.save(m, str(pre))
    return pre


def quantize_matmuls_dynamic(pre: Path, out: Path, per_channel: bool = True, exclude=()) -> None:
    """The "dynamic" candidate: MatMuls with constant weights only, int8 weights, activations
    quantized per batch at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # 7-bit weights: u8 x s8 products cannot saturate vpmaddubsw on CPUs without VNNI (per-channel
    # full-range weights lost 2% top-1 agreement on a trained tiny Swin on AVX2; 7-bit: 0.3%)
    quantize_dynamic(str(pre), str(out), op_types_to_quantize=["MatMul"], per_channel=per_channel,
                     reduce_range=True, weight_type=QuantType.QInt8, nodes_to_exclude=list(exclude),
                     extra_options={"MatMulConstBOnly": True})


def _quantize(pre: Path, input_name: str, out: Path, cs: CalibSet, acts: str, exclude: list[str],
              opts: Int8Options) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if acts == "dynamic":
        quantize_matmuls_dynamic(pre, out, opts.per_channel, exclude)
        return
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[opts.method]
    quantize_static(str(pre), str(out), reader(input_name, cs.calib), quant_format=QuantFormat.QDQ,
                    per_channel=opts.per_channel, reduce_range=acts == "u8-reduced",
                    activation_type=QuantType.QInt8 if acts == "s8" else QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=list(exclude), calibrate_method=method,
                    extra_options={"CalibMovingAverage": False})


def worst_tensors(pre: Path, graph, qdq: Path, x: np.ndarray, tmp: Path,
                  cache: dict | None = None) -> list[tuple[str, float]]:
    """(tensor, dB of accuracy its layer loses), worst first, from ONNX Runtime's qdq_loss_debug.

    ``xmodel_err`` is the SQNR of the QDQ model's activation against the fp32 model's; a layer's
    loss is how far it drops below the best SQNR among the layer's own inputs (what it received),
    so the layer that *introduces* the error ranks first, not every layer after it.  ``cache`` keeps
    the fp32 activations between rounds (the fp32 model and the images do not change)."""
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)

    name = graph.input[0].name
    af, aq = tmp / "aug_f.onnx", tmp / "aug_q.onnx"
    cache = {} if cache is None else cache
    if "fp32" not in cache:
        modify_model_output_intermediate_tensors(str(pre), str(af))
        cache["fp32"] = collect_activations(str(af), reader(name, x))
    fa = cache["fp32"]
    modify_model_output_intermediate_tensors(str(qdq), str(aq))
    qa = collect_activations(str(aq), reader(name, x))
    errs = compute_activation_error(create_activation_matching(qa, fa))
    sqnr = {t: float(e["xmodel_err"]) for t, e in errs.items() if "xmodel_err" in e}
    cap = 100.0  # dB: exact tensors (inf) count as this good
    ranked = []
    for node in graph.node:
        for t in node.output:
            if t not in sqnr:
                continue
            got = min(sqnr[t], cap)
            before = [min(sqnr[i], cap) for i in node.input if i in sqnr]
            ranked.append((t, (max(before) if before else cap) - got))
    return sorted(ranked, key=lambda r: -r[1])


COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def matmul_weight_share(graph) -> float:
    """The fraction of the compute ops' constant weights that feed MatMuls (what dynamic
    quantization can take: 1.0 for ViT / Swin, 0 for a CNN with a Gemm head)."""
    sizes = {t.name: int(np.prod(t.dims)) for t in graph.initializer}
    total = matmul = 0
    for n in graph.node:
        if n.op_type in COMPUTE_OPS and len(n.input) > 1 and n.input[1] in sizes:
            total += sizes[n.input[1]]
            matmul += sizes[n.input[1]] if n.op_type == "MatMul" else 0
    return matmul / total if total else 0.0


class Layers:
    """The fp32 graph's producer / consumer maps, built once per quantization (the fallback asks
    about many tensors per round)."""

    def __init__(self, graph):
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def around(self, tensor: str) -> list[str]:
        """The layer that produced ``tensor``: back through activations / elementwise ops to its
        Conv / MatMul, the producers of that node's inputs (whose QDQ feeds it), and the tensor's
        consumers."""
        node = self.producer.get(tensor)
        if node is None:
            return []
        chain = [node]
        while node.op_type not in COMPUTE_OPS and node.input and node.input[0] in self.producer and len(chain) < 4:
            node = self.producer[node.input[0]]
            chain.append(node)
        names = [n.name for n in chain] + [self.producer[i].name for i in chain[-1].input if i in self.producer]
        names += [n.name for n in self.consumers.get(tensor, [])]
        return list(dict.fromkeys(names))


def _modules(src_proto, nodes: list[str]) -> list[str]:
    from edgecv.runtimes.modelfile.onnx_file import node_module

    by_name = {n.name: n for n in src_proto.graph.node}
    mods = {node_module(by_name[n]) for n in nodes if n in by_name}
    return sorted(m for m in mods if m)


def quantize_int8(src, out, opts: Int8Options, on_stage: Callable[[str, float, str], None] | None = None) -> Int8Result:
    import onnx

    from edgecv.fileio import atomic_write
    from edgecv.runtimes.modelfile.onnx_file import read_spec
    from edgecv.spec import METADATA_KEY

    src, out = Path(src), Path(out)
    if opts.method not in METHODS:
        raise EdgecvError(f"--calib-method {opts.method!r} is not one of {', '.join(METHODS)}")
    if opts.activations not in ("auto", *ACTIVATIONS):
        raise EdgecvError(f"--int8-activations {opts.activations!r} is not auto or one of {', '.join(ACTIVATIONS)}")
    spec = read_spec(src)
    if spec is None:
        raise EdgecvError(f"{src} carries no edgecv spec", "export it with `edgecv export` first")

    def stage(name, t0, detail):
        if on_stage:
            on_stage(name, time.perf_counter() - t0, detail)

    t = time.perf_counter()
    cs = load_calibration(Path(opts.calib), spec)
    notes = [] if cs.separate else [f"only {len(cs.calib)} images: the accuracy check reuses the calibration images"]
    n_all = len(cs.calib) + (len(cs.held_out) if cs.separate else 0)
    if n_all < 200:
        notes.append(f"the check saw {n_all} images: a 1% top-1 change needs a few hundred to show "
                     "(pass more --calib images; `edgecv eval` on a labelled set tells the whole story)")
    stage("calibrate", t, f"{len(cs.calib)} calibration + {len(cs.held_out) if cs.separate else 0} held-out images"
          + (", labelled" if cs.labelled else ", unlabelled (judged by top-1 agreement with fp32)"))
    from edgecv.cpuinfo import cpu_features

    cpu = cpu_features()
    if opts.target_cpu is not None and opts.target_cpu not in TARGET_CPUS:
        raise EdgecvError(f"--target-cpu {opts.target_cpu!r} is not one of {', '.join(TARGET_CPUS)}")
    kernel = TARGET_CPUS.get(opts.target_cpu or "", cpu["int8_kernel"])
    candidates = int8_candidates(opts.activations, cpu["int8_kernel"], kernel)
    if kernel != cpu["int8_kernel"]:
        notes.append(f"built on {cpu['isa']} ({cpu['int8_kernel']} kernels) for {opts.target_cpu} ({kernel}): "
                     f"the speed measured here is this CPU's; activations tried: {', '.join(candidates)}")
    with tempfile.TemporaryDirectory(prefix="edgecv-int8-") as tmp_name:
        tmp = Path(tmp_name)
        t = time.perf_counter()
        pre = _pre_process(src, tmp, notes)
        graph = onnx.load(str(pre), load_external_data=False).graph
        layers = Layers(graph)
        if opts.activations == "auto" and matmul_weight_share(graph) >= 0.5:
            candidates.append("dynamic")
        fp32 = _session(pre)
        ref = _run(fp32, cs.held_out)
        ref_all = np.concatenate([_run(fp32, cs.calib), ref]) if cs.separate else ref
        lab = cs.held_out_truth >= 0
        fp32_acc = float(np.mean(ref.argmax(1)[lab] == cs.held_out_truth[lab])) if cs.labelled else None
        x1 = cs.held_out[:1]
        attempts: list[Attempt] = []
        files: dict[int, Path] = {}

        def attempt(acts: str, exclude: list[str]) -> Attempt:
            path = tmp / f"q{len(attempts)}.onnx"
            _quantize(pre, graph.input[0].name, path, cs, acts, exclude, opts)
            sess = _session(path)
            got = _run(sess, cs.held_out)
            got_all = np.concatenate([_run(sess, cs.calib), got]) if cs.separate else got
            agreement, acc, ok = _judge(cs, ref_all, got_all, got, fp32_acc, opts)
            ms = time_ms([sess], x1, opts.bench_seconds / 2)[0]
            a = Attempt(acts, list(exclude), agreement, acc, ms, ok)
            files[len(attempts)] = path
            attempts.append(a)
            return a

        for acts in candidates:
            attempt(acts, list(opts.keep_fp32))
        stage("quantize", t, "; ".join(f"{a.activations}: agreement {a.agreement:.1%}"
                                       + (f", accuracy {a.accuracy:.1%}" if a.accuracy is not None else "")
                                       + f", {a.ms:.2f} ms" for a in attempts))
        good = [a for a in attempts if a.ok]
        static = [a for a in attempts if a.activations in STATIC]  # qdq_loss_debug reads QDQ pairs
        if not good and static:  # keep the worst-represented layers in fp32 until within budget
            t = time.perf_counter()
            best = max(static, key=lambda a: (a.agreement, a.accuracy or 0))
            kept = list(best.kept_fp32)
            fp32_acts: dict = {}
            for _ in range(opts.max_rounds):
                qdq = files[attempts.index(best)]
                ranked = worst_tensors(pre, graph, qdq, cs.calib[:16], tmp, fp32_acts)
                fresh = [(tn, db) for tn, db in ranked
                         if db > 0 and not set(layers.around(tn)) <= set(kept)][:opts.per_round]
                if not fresh:
                    break
                for tn, _ in fresh:
                    kept += [n for n in layers.around(tn) if n not in kept]
                best = attempt(best.activations, kept)
                if best.ok:
                    break
            good = [a for a in attempts if a.ok]
            stage("fallback", t, f"{len(kept)} nodes kept in fp32, agreement {best.agreement:.1%}")
        if not good:
            best = max(attempts, key=lambda a: (a.agreement, a.accuracy or 0))
            what = f"top-1 agreement with fp32 {best.agreement:.1%} (budget {opts.min_agreement:.0%})" + (
                f", accuracy {best.accuracy:.1%} vs fp32 {fp32_acc:.1%}" if cs.labelled else "")
            raise CheckFailed(f"INT8 cannot hold the accuracy budget: best {what} with {len(best.kept_fp32)} nodes in "
                              f"fp32 after {len(attempts)} attempts; {out} was not written",
                              "keep fp32, try --calib-method entropy or percentile, or more calibration images")
        chosen = min(good, key=lambda a: a.ms)
        t = time.perf_counter()
        q_sess = _session(files[attempts.index(chosen)])
        fp32_ms, int8_ms = time_ms([fp32, q_sess], x1, opts.bench_seconds)
        stage("measure", t, f"fp32 {fp32_ms:.2f} ms, int8 {int8_ms:.2f} ms at batch 1: "
              f"{fp32_ms / int8_ms:.2f}x on {cpu['isa']}" + ("" if int8_ms < fp32_ms else " (INT8 is not faster here)"))
        proto = onnx.load(str(files[attempts.index(chosen)]))
        src_proto = onnx.load(str(src), load_external_data=False)
        kept_modules = _modules(src_proto, chosen.kept_fp32)
        spec.extra = {**spec.extra, "precision": "int8",
                      "int8": {"activations": chosen.activations, "method": opts.method,
                               "per_channel": opts.per_channel, "kept_fp32": chosen.kept_fp32,
                               "kept_modules": kept_modules, "agreement": chosen.agreement,
                               "accuracy": chosen.accuracy, "fp32_accuracy": fp32_acc,
                               "speedup": fp32_ms / int8_ms, "cpu": cpu["isa"], "int8_kernel": kernel,
                               "target_cpu": opts.target_cpu, "source": src.name}}
        onnx.helper.set_model_props(proto, {METADATA_KEY: spec.to_json()})
        atomic_write(out, lambda tmp_out: onnx.save(proto, tmp_out))
    return Int8Result(out, chosen, fp32_ms, int8_ms, fp32_acc, len(cs.held_out), cs.separate, n_all, attempts,
                      kept_modules, notes)
