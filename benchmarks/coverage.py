"""Export coverage, measured: every torchvision classifier and one model of every timm family (timm's
models grouped by name prefix, the smallest of each), random weights, through edgecv's export (dynamic
batch, or the honest static fallback) and verify.

    python benchmarks/coverage.py                       # the whole sweep (hours on 2 cores); resumable
    python benchmarks/coverage.py --only torchvision    # or timm; --models a,b to pick
    python benchmarks/coverage.py --report              # rewrite coverage.md from the results so far

Each model runs in its own process (a crash or the kernel's OOM killer takes only that model), under
a time limit; one JSON line per model is appended to benchmarks/results/coverage.jsonl as it finishes,
and a model already there is skipped, so a stopped sweep continues where it stopped (--retry-failed
runs the failures again).  benchmarks/results/coverage.md is the table.

Per model: status (pass / export failed / verify failed / timeout / killed), the exporter, the batch
(dynamic, or static and why), seconds, verify's worst relative error, and ONNX Runtime's batch-1
latency against torch eager's (interleaved, same process).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "coverage.jsonl"
REPORT = HERE / "results" / "coverage.md"
PICKS = HERE / "results" / "coverage_timm_picks.json"  # timm_representatives() cached: 6 min to compute
SMALL_WORDS = ("pico", "nano", "atto", "femto", "tiny", "small", "mobile", "xs", "s", "b0", "18", "t", "base")
BIG_WORDS = ("large", "huge", "giant", "gigantic", "xl", "xxl", "1b", "2b", "3b", "7b", "e", "g", "h", "l")


def timm_family(name: str) -> str:
    """timm models grouped by name prefix: ``resnet50d`` -> resnet, ``efficientnetv2_s`` -> efficientnetv2."""
    n = re.sub(r"^(tf_|gluon_|legacy_|ssl_|swsl_|ig_|tv_)", "", name)
    m = re.match(r"[a-z]+?v\d+(?![0-9])|[a-z]+", n)
    return m.group(0) if m else n


def _params_on_meta(name: str) -> int:
    import timm
    import torch

    try:
        with torch.device("meta"):
            m = timm.create_model(name, pretrained=False)
        return sum(p.numel() for p in m.parameters())
    except Exception:  # noqa: BLE001 - a builder that cannot run on meta: last resort
        return 1 << 62


def timm_representatives() -> list[str]:
    """The smallest model of each timm family: parameters counted on the meta device, among up to 24 of
    its names ranked by size words (``tiny`` before ``base``, ``large`` / ``1b`` last)."""
    import timm

    families = defaultdict(list)
    for n in timm.list_models():
        families[timm_family(n)].append(n)
    picks = []
    for fam, names in sorted(families.items()):
        def rank(n):
            words = re.split(r"[_]+|(?<=[a-z])(?=\d)", n)
            if any(w in BIG_WORDS for w in words):
                return len(SMALL_WORDS) + 1, len(n), n
            return min((SMALL_WORDS.index(w) for w in words if w in SMALL_WORDS), default=len(SMALL_WORDS)), len(n), n

        candidates = sorted(names, key=rank)[:24]
        picks.append(min(candidates, key=lambda n: (_params_on_meta(n), n)))
    return picks


def timm_picks(refresh: bool = False) -> list[str]:
    """The timm models the sweep runs, read from PICKS (written on first use or with --refresh-picks),
    so every shard and every resumed run sweeps the same list."""
    import timm

    if PICKS.exists() and not refresh:
        saved = json.loads(PICKS.read_text())
        if saved.get("timm") != timm.__version__:
            print(f"note: {PICKS.name} lists timm {saved.get('timm')}'s models, this is timm {timm.__version__}"
                  " (--refresh-picks to pick again)", flush=True)
        return saved["models"]
    models = timm_representatives()
    PICKS.write_text(json.dumps({"timm": timm.__version__, "models": models}, indent=1) + "\n")
    return models


def torchvision_models() -> list[str]:
    from edgecv.models import get_entry, list_models

    return [n for n in list_models() if "torchvision" in get_entry(n).tags]


# -- one model, in its own process ------------------------------------------------------------------

def run_one(arch: str, workdir: Path) -> dict:
    """Export + verify + latency of one zoo / timm model (random weights)."""
    import numpy as np
    import torch

    from edgecv.exporters.onnx_export import ExportOptions, export_onnx
    from edgecv.loaders.checkpoint import save_checkpoint
    from edgecv.models import create_model, default_spec
    from edgecv.verification import verify

    torch.set_num_threads(int(os.environ.get("COVERAGE_THREADS", "1")))
    row: dict = {"model": arch, "source": "timm" if arch.startswith("timm/") else "torchvision"}
    if torch.get_num_threads() != 1:
        row["threads"] = torch.get_num_threads()
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = create_model(arch, num_classes=10).eval()
    row["params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
    # Zero-initialised weights (torchvision's ViT heads, some timm heads) make every logit 0 for every
    # input: export and verify would then compare zeros with zeros and pass whatever the graph does.
    with torch.no_grad():
        zeros = [n for n, p in model.named_parameters() if p.dim() >= 2 and not p.any()]
        for n, p in model.named_parameters():
            if n in zeros:
                torch.nn.init.normal_(p, std=0.02)
    if zeros:
        row["reinit"] = zeros
    spec0 = default_spec(arch, num_classes=10)
    shape = (spec0.channels, *spec0.input_size)
    if _input_spread(model, shape) < 1e-4:  # activations that vanish under random init (cspnext_tiny:
        _recalibrate_batchnorm(model, shape)  # features 1e-10): BatchNorm statistics from random batches
        row["bn_recalibrated"] = True
    row["logit_spread"] = _input_spread(model, shape)  # a check of an output that ignores its input says nothing
    spec = default_spec(arch, num_classes=10)
    ck = save_checkpoint(workdir / "m.pt", model, spec)
    del model
    try:
        res = export_onnx(ck, ExportOptions(output=workdir / "m.onnx"))
    except Exception as e:  # noqa: BLE001 - recorded, not raised: the table lists every failure
        row.update(status="export failed", error=_first_line(e), seconds=round(time.perf_counter() - t0, 1))
        return row
    export_s = time.perf_counter() - t0
    batch = res.spec.extra.get("export", {}).get("batch")
    row.update(exporter=res.exporter, exporter_note=res.exporter_note, batch=batch,
               batch_note=res.spec.extra.get("export", {}).get("batch_note"), export_s=round(export_s, 1),
               input=list(res.spec.input_size), export_max_rel=res.validation.max_rel if res.validation else None)
    t1 = time.perf_counter()
    try:
        v = verify(ck, [res.path], batch_sizes=(1, 2) if batch == "dynamic" else (int(batch),), seeds=(0,),
                   backends=["onnxruntime/CPUExecutionProvider"])
        ran = [r for r in v.rows if r.status != "skipped"]
        row.update(verify="pass" if v else "fail", verify_max_rel=max((r.max_rel for r in ran), default=None),
                   verify_reason=next((r.reason for r in ran if r.status == "fail"), None))
    except Exception as e:  # noqa: BLE001
        row.update(verify="error", verify_reason=_first_line(e))
    row["verify_s"] = round(time.perf_counter() - t1, 1)
    try:
        from edgecv.runtimes.bench import Candidate, bench_candidates

        rows = bench_candidates([Candidate(ck, "torch", group="m", label="eager"),
                                 Candidate(res.path, "onnxruntime", group="m", label="ort")],
                                batches=(1,), seconds=1.0, threads=1, rounds=4, floor=False)
        eager, ort = rows[0]["p50_ms"], rows[1]["p50_ms"]
        row.update(eager_ms=round(eager, 2), ort_ms=round(ort, 2), ort_speedup=round(eager / ort, 2))
    except Exception as e:  # noqa: BLE001
        row["latency_error"] = _first_line(e)
    row["status"] = "pass" if row.get("verify") == "pass" else "verify failed"
    if row["status"] == "pass" and row["logit_spread"] < 1e-4:
        row.update(status="vacuous", error="the logits do not depend on the input: export and verify compared nothing")
    row["seconds"] = round(time.perf_counter() - t0, 1)
    np.random.seed(0)
    return row


def _input_spread(model, shape) -> float:
    """How much the logits change between two random inputs, relative to their size (0: constant)."""
    import torch

    with torch.no_grad():
        out = model(torch.randn(2, *shape))
        out = out.logits if hasattr(out, "logits") else out
    return float((out[0] - out[1]).abs().max() / (out.abs().max() + 1e-30))


def _recalibrate_batchnorm(model, shape) -> None:
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the batches below
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, *shape))
    model.eval()
    for m in bns:
        m.momentum = 0.1


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300] if text else ''}"


# -- the sweep --------------------------------------------------------------------------------------

def done_rows() -> dict[str, dict]:
    rows = {}
    if RESULTS.exists():
        for line in RESULTS.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows[r["model"]] = r
    return rows


def sweep(models: list[str], limit_s: float, retry_failed: bool, again: bool = False) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    done = done_rows()
    todo = [m for m in models if again or m not in done or (retry_failed and done[m].get("status") != "pass")]
    print(f"{len(models)} models, {len(models) - len(todo)} done already, {len(todo)} to go", flush=True)
    for i, arch in enumerate(todo, 1):
        if done_rows().get(arch) not in (None, done.get(arch)):  # a parallel sweep wrote it meanwhile
            continue
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="edgecv-coverage-") as tmp:
            cmd = [sys.executable, __file__, "--one", arch, "--workdir", tmp]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s)
                last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
                if proc.returncode == 0 and last.startswith("{"):
                    row = json.loads(last)
                elif proc.returncode in (-9, 137):
                    row = {"model": arch, "status": "killed", "error": "killed (out of memory?)"}
                else:
                    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                    row = {"model": arch, "status": "crashed", "error": tail[:300]}
            except subprocess.TimeoutExpired:
                row = {"model": arch, "status": "timeout", "error": f"over {limit_s:.0f} s"}
        row.setdefault("source", "timm" if arch.startswith("timm/") else "torchvision")
        row.setdefault("seconds", round(time.perf_counter() - t0, 1))
        row["when"] = time.strftime("%Y-%m-%d %H:%M")
        with open(RESULTS, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"[{i}/{len(todo)}] {arch}: {row['status']} ({row['seconds']} s)"
              + (f" {row.get('error') or row.get('verify_reason') or ''}" if row["status"] != "pass" else ""),
              flush=True)
    write_report()


def failure_class(r: dict) -> str:
    """A failure's class: its status and its reason with names and numbers taken out."""
    reason = str(r.get("error") or r.get("verify_reason") or "")
    reason = re.sub(r"^\w+: ", "", reason)
    reason = re.sub(r"[\w./-]*\d[\w./-]*", "N", reason)  # sizes, names with digits, numbers
    return f"{r['status']}: {reason[:80]}".rstrip(": ")


def _vacuous_before_the_check(r: dict) -> dict:
    """A row from before the sweep measured ``logit_spread``: an error of exactly 0 meant constant logits
    (a zero head compared with itself), so it is no pass."""
    if r["status"] == "pass" and "logit_spread" not in r and r.get("verify_max_rel") == 0.0:
        return {**r, "status": "vacuous", "error": "max rel 0 before the sweep checked the logits move: "
                "constant logits (zero head?); rerun with --again"}
    return r


def write_report() -> None:
    rows = list(done_rows().values())
    current = set(torchvision_models())
    if PICKS.exists():  # a family's earlier pick, run before the pick changed, is not counted twice
        current |= {f"timm/{n}" for n in json.loads(PICKS.read_text())["models"]}
    else:
        current |= {r["model"] for r in rows if r.get("source") == "timm"}
    rows = [_vacuous_before_the_check(r) for r in rows if r["model"] in current]
    lines = ["# Export coverage", "",
             "Every torchvision classifier and one model of every timm family (the smallest by parameters), random "
             "weights, 10 classes, through `edgecv export` (dynamic batch, or the static fallback it says) and "
             "`edgecv verify` on ONNX Runtime (CPU).  Written by `python benchmarks/coverage.py` (resumable; one "
             "process per model, 1 thread).", ""]
    for source in ("torchvision", "timm"):
        sel = sorted((r for r in rows if r.get("source") == source and r["model"] in current),
                     key=lambda r: r["model"])
        if not sel:
            continue
        ok = sum(r["status"] == "pass" for r in sel)
        dyn = sum(r["status"] == "pass" and r.get("batch") == "dynamic" for r in sel)
        lines += [f"## {source}: {ok} / {len(sel)} pass ({ok / len(sel):.1%}), {dyn} with a dynamic batch", "",
                  "| model | M params | status | exporter | batch | export s | verify max rel | eager ms | ORT ms | "
                  "ORT vs eager | note |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sel:
            rel = r.get("verify_max_rel")
            note = r.get("error") or r.get("verify_reason") or r.get("batch_note") or ""
            if r.get("threads", 1) != 1:  # export and verify on more threads (the latency columns stay at 1)
                note = f"export and verify on {r['threads']} threads" + (f"; {note}" if note else "")
            lines.append(f"| {r['model']} | {r.get('params_m', '')} | {r['status']} | {r.get('exporter', '')} | "
                         f"{r.get('batch', '')} | {r.get('export_s', '')} | {'' if rel is None else f'{rel:.1e}'} | "
                         f"{r.get('eager_ms', '')} | {r.get('ort_ms', '')} | "
                         f"{'' if r.get('ort_speedup') is None else str(r['ort_speedup']) + 'x'} | "
                         f"{str(note).replace('|', '/')[:160]} |")
        lines.append("")
    failed = [r for r in rows if r["status"] != "pass"]
    if failed:
        lines += ["## Failures by class", "",
                  "| class | models | example reason |", "|---|---|---|"]
        classes = defaultdict(list)
        for r in failed:
            classes[failure_class(r)].append(r)
        for cls, rs in sorted(classes.items(), key=lambda kv: -len(kv[1])):
            reason = rs[0].get("error") or rs[0].get("verify_reason") or ""
            lines.append(f"| {cls} | {', '.join(r['model'] for r in rs)} | {str(reason).replace('|', '/')[:200]} |")
        lines.append("")
    REPORT.write_text("\n".join(lines) + "\n")
    print(f"wrote {REPORT}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("torchvision", "timm"))
    ap.add_argument("--models", help="comma-separated registry names (timm/NAME for timm)")
    ap.add_argument("--limit", type=float, default=900.0, help="seconds per model")
    ap.add_argument("--retry-failed", action="store_true")
    ap.add_argument("--again", action="store_true", help="run the models even where a row exists (the new row counts)")
    ap.add_argument("--report", action="store_true", help="only rewrite coverage.md")
    ap.add_argument("--refresh-picks", action="store_true", help="pick the timm models again (6 min)")
    ap.add_argument("--shard", default="0/1", help="K/N: run every N-th model starting at K (parallel sweeps)")
    ap.add_argument("--reverse", action="store_true", help="last model first: a second sweep of one list meets "
                    "the first in the middle (each skips what the other wrote)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        import warnings

        warnings.simplefilter("ignore")
        print(json.dumps(run_one(a.one, Path(a.workdir))))
        return
    if a.report:
        write_report()
        return
    if a.models:
        models = a.models.split(",")
    else:
        models = ([] if a.only == "timm" else torchvision_models())
        models += [] if a.only == "torchvision" else [f"timm/{n}" for n in timm_picks(a.refresh_picks)]
    k, n = (int(x) for x in a.shard.split("/"))
    models = models[k::n]
    sweep(models[::-1] if a.reverse else models, a.limit, a.retry_failed, a.again)


if __name__ == "__main__":
    main()
