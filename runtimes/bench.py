"""Model-only timing side by side (deploy side: no torch unless a candidate is a torch file).

Candidates are timed in rounds: each gets a short slice in turn, so drift on a noisy machine
(thermal, other load) hits all of them alike.  Speed-ups are against the group's torch-eager
candidate where there is one (else the group's first), measured in the same run.  Each row also
says where the latency stands against the hardware's floor (``edgecv.runtimes.floor``: the
model's FLOPs over this machine's MatMul peak, measured in the same run), how much memory loading
and running the candidate added to the process, and the accuracy on labelled data if given.
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# p95 / p50 above this: the timings were disturbed (another process, throttling), and the row's
# speed-ups are not to be trusted; `edgecv bench` says so.
BUSY_SPREAD = 1.5


@dataclass
class Candidate:
    path: Path
    backend: str = "auto"
    group: str = ""             # the model this is a form of (rows of one group compare with each other)
    label: str = ""             # "torch eager", "onnxruntime int8", ...
    flops_from: Path | None = None  # the ONNX graph whose FLOPs this candidate computes

    def __post_init__(self):
        self.path = Path(self.path)
        self.group = self.group or self.path.name.split(".")[0]


def _input(rt, batch: int) -> np.ndarray:
    s = rt.spec
    return np.random.default_rng(0).standard_normal((batch, s.channels, *s.input_size)).astype(np.float32)


def time_batches(rt, batch: int, seconds: float) -> list[float]:
    x = _input(rt, batch)
    rt.infer(x)  # warm-up
    times, t_end = [], time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 3:
        t = time.perf_counter()
        rt.infer(x)
        times.append(time.perf_counter() - t)
    return times


def precision_of_spec(spec) -> str:
    return (spec.extra or {}).get("precision", "fp32") if spec is not None else "fp32"


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            import os

            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _round_robin(live, xs, seconds: float, rounds: int) -> dict[int, list[float]]:
    for rt in live:
        rt.infer(xs[id(rt)])  # warm-up
    times: dict[int, list[float]] = {id(rt): [] for rt in live}
    for _ in range(rounds):
        for rt in live:
            t_end = time.perf_counter() + seconds / rounds
            n = 0
            while time.perf_counter() < t_end or n < 1:
                t = time.perf_counter()
                rt.infer(xs[id(rt)])
                times[id(rt)].append(time.perf_counter() - t)
                n += 1
    return times


def bench_candidates(cands: list[Candidate], batches=(1, 8), seconds=3.0, threads=None, rounds: int = 6,
                     floor: bool = True, data=None, on_step=None) -> list[dict]:
    """One row per (candidate, batch size)."""
    from edgecv.runtimes import load

    say = on_step or (lambda text: None)
    opts = {"intra_op_threads": threads} if threads else {}
    rows = []
    with ExitStack() as stack:
        rts, mem = [], []
        for c in cands:
            before = rss_mb()
            rt = stack.enter_context(load(c.path, c.backend, **(opts if c.backend != "torch" else {})))
            rt.infer(_input(rt, max(batches)) if not rt.inputs[0].static_batch else _input(rt, rt.inputs[0].static_batch))
            mem.append(max(rss_mb() - before, 0.0))
            rts.append(rt)
        accuracy = {}
        if data is not None:
            from edgecv.runtimes.evaluate import evaluate

            for c, rt in zip(cands, rts):
                say(f"accuracy of {c.label or c.path.name} on {len(data)} images")
                accuracy[id(rt)] = evaluate(rt, data).accuracy
        peaks, flops = {}, {}
        if floor:
            from edgecv.runtimes.floor import model_flops, peak_gflops

            say("measuring this machine's MatMul peak (fp32, int8)")
            peaks = {"fp32": peak_gflops(False, threads=threads), "int8": peak_gflops(True, threads=threads)}
            counted: dict = {}  # one count per graph: eager, fp32 and int8 share the fp32 one
            for c in cands:
                src = c.flops_from or (c.path if c.path.suffix.lower() == ".onnx" else None)
                if src is not None and src not in counted:
                    counted[src] = model_flops(src, 1)
                flops[id(c)] = counted[src] if src else (None, ["FLOPs need an ONNX graph"])
        for b in batches:
            live = [(c, rt, m) for c, rt, m in zip(cands, rts, mem)
                    if not (rt.inputs[0].static_batch and b != rt.inputs[0].static_batch)]
            if not live:
                continue
            say(f"timing batch {b}: {len(live)} candidates in {rounds} rounds")
            xs = {id(rt): _input(rt, b) for _, rt, _ in live}
            times = _round_robin([rt for _, rt, _ in live], xs, seconds, rounds)
            p50s = {id(rt): float(np.median(times[id(rt)]) * 1e3) for _, rt, _ in live}
            for c, rt, m in live:
                t = np.asarray(times[id(rt)])
                group = [(cc, r) for cc, r, _ in live if cc.group == c.group]
                base = next((r for cc, r in group if r.backend == "torch"), group[0][1])
                precision = precision_of_spec(rt.spec) if rt.backend != "torch" else "fp32"
                p95 = float(np.percentile(t, 95) * 1e3)
                row = {"model": c.group, "candidate": c.label or f"{rt.backend} {precision}", "file": c.path.name,
                       "runtime": rt.name, "threads": rt.threads, "precision": precision,
                       "size_mb": c.path.stat().st_size / 1e6, "batch": b, "p50_ms": p50s[id(rt)], "p95_ms": p95,
                       # from the median, like the latency beside it: one stall does not move it
                       "images_per_s": b * 1e3 / p50s[id(rt)], "spread": p95 / p50s[id(rt)],
                       "speedup": p50s[id(base)] / p50s[id(rt)],
                       "speedup_over": "torch eager" if base.backend == "torch" else Path(str(base.path)).name,
                       "memory_mb": m, "accuracy": accuracy.get(id(rt))}
                if floor:
                    f, notes = flops[id(c)]
                    peak = peaks["int8" if precision == "int8" else "fp32"]
                    row.update(gflops=(f / 1e9 if f else None), peak_gflops=peak, floor_notes=notes,
                               floor_ms=(f * b / (peak * 1e9) * 1e3 if f else None))
                    row["x_floor"] = row["p50_ms"] / row["floor_ms"] if row["floor_ms"] else None
                rows.append(row)
    return rows

