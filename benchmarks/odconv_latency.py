"""ODConv export formulations on ONNX Runtime CPU vs the upstream model, side by side in one run.

    python benchmarks/odconv_latency.py [--size 224] [--threads 2] [--repeat 20]

od_resnet18, kernel_num 4, batch 1 and 8.  Rows: upstream eager (torch, same thread count), a
static-batch export of the upstream formulation (TorchScript exporter, one file per batch size),
and edgecv's dynamic-batch exports in each --odconv-mode.  Writes benchmarks/results/odconv_latency.json.
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from edgecv.exporters.trace import export_graph
from edgecv.exporters.passes.odconv import MODES, rewrite_odconv
from edgecv.exporters.scan_conv import expand_scan_nodes
from edgecv.models import create_model

warnings.filterwarnings("ignore")


def timeit(fn, repeat):
    fn()
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def session(proto_bytes, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(proto_bytes, so, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = create_model("odconv_resnet18", num_classes=1000, kernel_num=4).eval()
    batches = (1, 8)
    xs = {b: np.random.default_rng(b).standard_normal((b, 3, a.size, a.size)).astype(np.float32) for b in batches}
    rows = {}
    with torch.inference_mode():
        rows["upstream eager (torch)"] = {b: timeit(lambda: model(torch.from_numpy(xs[b])), a.repeat) for b in batches}
    rows["upstream static-batch export"] = {}
    for b in batches:
        buf = io.BytesIO()
        torch.onnx.export(model, (torch.from_numpy(xs[b]),), buf, dynamo=False, input_names=["input"])
        s = session(buf.getvalue(), a.threads)
        rows["upstream static-batch export"][b] = timeit(lambda: s.run(None, {"input": xs[b]}), a.repeat)
    for mode in MODES:
        m = copy.deepcopy(model)
        rewrite_odconv(m, mode)
        torch._dynamo.reset()
        prog = export_graph(m, torch.randn(2, 3, a.size, a.size), True, None, "dynamo")
        prog.optimize()
        proto = prog.model_proto
        expand_scan_nodes(proto)
        s = session(proto.SerializeToString(), a.threads)
        name = s.get_inputs()[0].name
        ref = model(torch.from_numpy(xs[8])).detach().numpy()
        err = float(np.abs(s.run(None, {name: xs[8]})[0] - ref).max() / np.abs(ref).max())
        rows[f"edgecv {mode} (dynamic batch)"] = {b: timeit(lambda: s.run(None, {name: xs[b]}), a.repeat)
                                                  for b in batches} | {"rel_err": err}
    base, eager = rows["upstream static-batch export"], rows["upstream eager (torch)"]
    print(f"od_resnet18 kernel_num=4 {a.size}x{a.size}, ORT CPU {a.threads} threads, median of {a.repeat}")
    print(f"{'variant':<34}{'b=1 ms':>9}{'b=8 ms':>9}{'vs static b1/b8':>18}{'vs eager b1/b8':>18}")
    for k, r in rows.items():
        print(f"{k:<34}{r[1]:9.1f}{r[8]:9.1f}{r[1] / base[1]:9.2f}x{r[8] / base[8]:8.2f}x"
              f"{eager[1] / r[1]:9.2f}x{eager[8] / r[8]:8.2f}x")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "odconv_latency.json").write_text(json.dumps({"args": vars(a), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
