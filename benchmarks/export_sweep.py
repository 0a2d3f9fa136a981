"""`edgecv verify` (which exports with default options: dynamic batch, validation) on every registry
model, torchvision classifiers and the zoo, at the registry's small test input size; record the
exporter, the time, the worst relative error and whether verify passed.

    python benchmarks/export_sweep.py [--include-large] [--pattern 'resnet*']
Writes benchmarks/results/export_sweep.json (one row per model).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import torch

from edgecv.loaders.checkpoint import save_checkpoint
from edgecv.errors import EdgecvError
from edgecv.verification import verify
from edgecv.models import create_model, default_spec, get_entry, list_models

warnings.filterwarnings("ignore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--include-large", action="store_true")
    ap.add_argument("--pattern", default=None)
    ap.add_argument("--from-model", default=None, help="resume: skip names sorting before this one, "
                    "and keep the rows already in the results file")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    results = Path(__file__).parent / "results" / "export_sweep.json"
    rows = json.loads(results.read_text()) if a.from_model and results.exists() else []
    rows = [r for r in rows if a.from_model and r["model"] < a.from_model]
    for name in list_models(a.pattern):
        if a.from_model and name < a.from_model:
            continue
        entry = get_entry(name)
        if "large" in entry.tags and not a.include_large:
            continue
        size = (entry.cfg.test_input_size or entry.cfg.input_size)[0]
        kwargs = {"img_size": size} if name.startswith("vit_") else {}
        torch.manual_seed(0)
        spec = default_spec(name, num_classes=10, model_kwargs=kwargs)
        t = time.perf_counter()
        spec.input_size = (size, size)
        if spec.resize is not None:
            spec.resize = int(round(size / 0.875))
        try:
            ck = save_checkpoint(tmp / "m.pt", create_model(name, num_classes=10, **kwargs).eval(), spec)
            res = verify(ck, batch_sizes=(1, 2), seeds=(0,))
            ran = [r for r in res.rows if r.status != "skipped"]
            row = {"model": name, "ok": bool(res), "max_rel": max(r.max_rel for r in ran),
                   "e2e_max_rel": max((r.e2e_max_rel or 0) for r in ran), "seconds": time.perf_counter() - t,
                   "size": size, "failures": [f"{r.runtime}: {r.reason}; {r.first_divergence}" for r in res.failed]}
        except EdgecvError as e:
            row = {"model": name, "ok": False, "error": str(e)[:300], "seconds": time.perf_counter() - t, "size": size}
        rows.append(row)
        print(json.dumps(row), flush=True)
    ok = sum(r["ok"] for r in rows)
    print(f"{ok}/{len(rows)} exported with a dynamic batch and passed verify")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "export_sweep.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
