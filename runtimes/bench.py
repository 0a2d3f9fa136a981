"""Model-only timing (deploy side: no torch unless the model is a torch file)."""
from __future__ import annotations

import time

import numpy as np


def time_batches(rt, batch: int, seconds: float) -> list[float]:
    s = rt.spec
    x = np.random.default_rng(0).standard_normal((batch, s.channels, *s.input_size)).astype(np.float32)
    rt.infer(x)  # warm-up
    times, t_end = [], time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 3:
        t = time.perf_counter()
        rt.infer(x)
        times.append(time.perf_counter() - t)
    return times


def bench_model(path, backend="auto", batches=(1, 8), seconds=3.0, threads=None) -> list[dict]:
    from edgecv.runtimes import load

    opts = {"intra_op_threads": threads} if threads else {}
    rows = []
    with load(path, backend, **opts) as rt:
        for b in batches:
            if rt.inputs[0].static_batch and b != rt.inputs[0].static_batch:
                continue
            t = np.asarray(time_batches(rt, b, seconds))
            rows.append({"runtime": rt.name, "batch": b, "p50_ms": float(np.median(t) * 1e3),
                         "p95_ms": float(np.percentile(t, 95) * 1e3),
                         "images_per_s": float(b * len(t) / t.sum())})
    return rows
