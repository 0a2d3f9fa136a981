"""Peak memory of `edgecv export`, in copies of the model's weights: what exporters/memory.py's
before-tracing check is based on.

    python benchmarks/export_memory.py                 # vit_b_16 and resnet50, one file and external data

Each export runs in its own process (peak RSS is per process): the model is built, its RSS taken,
then exported (dynamic batch, validated); the peak above the loaded model is divided by the size of
its weights.  "external data" lowers edgecv's 2 GB single-file limit to 0 so the same model goes
through the path models past 2 GB take.  Writes benchmarks/results/export_memory.md.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORT = HERE / "results" / "export_memory.md"

CHILD = r"""
import json, resource, sys, tempfile
import torch, torchvision
import edgecv
import edgecv.exporters.onnx_export as ex
name, external = sys.argv[1], sys.argv[2] == "1"
if external:
    ex.SINGLE_FILE_LIMIT = 0
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096
model = getattr(torchvision.models, name)(num_classes=1000).eval()
weights = sum(p.numel() * p.element_size() for p in model.parameters())
loaded = rss()
with tempfile.TemporaryDirectory() as d:
    edgecv.export(model, f"{d}/m.onnx", imgsz=(224, 224), resize=256, mean=(0.5,) * 3, std=(0.5,) * 3,
                  interpolation="bilinear", channel_order="RGB")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"model": name, "external": external, "weights": weights, "loaded": loaded, "peak": peak}))
"""


def main() -> int:
    rows = []
    for name in ("resnet50", "vit_b_16"):
        for external in (False, True):
            r = subprocess.run([sys.executable, "-c", CHILD, name, "1" if external else "0"], capture_output=True,
                               text=True, timeout=1800)
            line = next((ln for ln in r.stdout.splitlines() if ln.startswith("{")), None)
            if line is None:
                print(r.stderr[-2000:])
                return 1
            rows.append(json.loads(line))
            d = rows[-1]
            print(f"{name} external={external}: {(d['peak'] - d['loaded']) / d['weights']:.2f} copies", flush=True)
    lines = ["# Export memory: the peak above the loaded model, in copies of its weights", "",
             "`python benchmarks/export_memory.py` (each export in its own process; dynamic batch, validated).", "",
             "| model | weights MB | file | loaded RSS MB | peak RSS MB | peak above loaded, copies of the weights |",
             "|---|---:|---|---:|---:|---:|"]
    for d in rows:
        lines.append(f"| {d['model']} | {d['weights'] / 1e6:.0f} | {'external data' if d['external'] else 'one file'} "
                     f"| {d['loaded'] / 1e6:.0f} | {d['peak'] / 1e6:.0f} | {(d['peak'] - d['loaded']) / d['weights']:.2f} |")
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {REPORT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
