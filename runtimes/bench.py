"""Model-only timing (deploy side: no torch unless the model is a torch file).

Several models are timed side by side: in rounds, each candidate gets a short slice in turn, so
drift on a noisy machine (thermal, other load) hits all of them alike; speed-ups are against the
first model, measured in the same run."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np


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


def bench_models(paths, backend="auto", batches=(1, 8), seconds=3.0, threads=None, rounds: int = 6) -> list[dict]:
    """One row per (model, batch size): p50 / p95 latency, images/s, speed-up over the first model."""
    from contextlib import ExitStack

    from edgecv.runtimes import load

    opts = {"intra_op_threads": threads} if threads else {}
    rows = []
    with ExitStack() as stack:
        rts = [stack.enter_context(load(p, backend, **opts)) for p in paths]
        for b in batches:
            live = [(p, rt) for p, rt in zip(paths, rts)
                    if not (rt.inputs[0].static_batch and b != rt.inputs[0].static_batch)]
            if not live:
                continue
            xs = {id(rt): _input(rt, b) for _, rt in live}
            for _, rt in live:
                rt.infer(xs[id(rt)])  # warm-up
            times: dict[int, list[float]] = {id(rt): [] for _, rt in live}
            for _ in range(rounds):
                for _, rt in live:
                    t_end = time.perf_counter() + seconds / rounds
                    n = 0
                    while time.perf_counter() < t_end or n < 1:
                        t = time.perf_counter()
                        rt.infer(xs[id(rt)])
                        times[id(rt)].append(time.perf_counter() - t)
                        n += 1
            base = None
            for p, rt in live:
                t = np.asarray(times[id(rt)])
                p50 = float(np.median(t) * 1e3)
                base = base or p50
                rows.append({"model": Path(p).name, "runtime": rt.name, "precision": precision_of_spec(rt.spec),
                             "size_mb": Path(p).stat().st_size / 1e6, "batch": b, "p50_ms": p50,
                             "p95_ms": float(np.percentile(t, 95) * 1e3), "images_per_s": float(b * len(t) / t.sum()),
                             "speedup": base / p50})
    return rows


def bench_model(path, backend="auto", batches=(1, 8), seconds=3.0, threads=None) -> list[dict]:
    return bench_models([path], backend, batches, seconds, threads)
