"""Which forms of each model `edgecv bench` can time here, and why the others are skipped.

A model file (.onnx / .engine) is timed as it is.  A checkpoint (or any model source export takes)
is timed as torch eager, and as ONNX Runtime fp32 / int8 / fp16 and TensorRT where each makes
sense on this machine: existing exports beside it (``X.onnx``, ``X.int8.onnx``, ``X.fp16.onnx``,
``X.engine``) are used as they are; a missing fp32 ONNX is exported into a temporary folder; int8
is quantized there when ``--calib DIR`` is given.
"""
from __future__ import annotations

from pathlib import Path

from dataclasses import dataclass, field

from edgecv.errors import EdgecvError
from edgecv.formats import backend_of
from edgecv.runtimes.bench import Candidate

BENCH_BACKENDS = ("torch", "onnxruntime", "tensorrt")


def _gpu() -> bool:
    from edgecv.runtimes.hardware import cuda_device_count

    return cuda_device_count() > 0


def _tensorrt_reason() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except Exception:  # noqa: BLE001
        return "tensorrt is not installed here (pip install 'edgecv[tensorrt]' on a GPU machine)"
    return None if _gpu() else "no CUDA device here"


def _fp16_reason() -> str | None:
    """Why ONNX Runtime fp16 is not timed here (None: it is)."""
    if not _gpu():
        return "not timed on a CPU (ONNX Runtime's CPU kernels run fp16 through casts; it is a GPU precision)"
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "a CUDA device, but CUDAExecutionProvider is not in this onnxruntime build (pip install onnxruntime-gpu)"
    return None


def plan(models: list[Path], backends: list[str], workdir: Path, calib: Path | None, say) -> tuple[list[Candidate], list[str]]:
    """(candidates, skip reasons)."""
    cands: list[Candidate] = []
    skips: list[str] = []
    given = {m.name for m in models}
    for m in models:
        kind = backend_of(m)
        if kind in ("onnxruntime", "tensorrt"):
            cands.append(Candidate(m, "auto", group=m.name.split(".")[0], label=m.name))
            continue
        group = m.name.split(".")[0]
        stem = m.with_suffix("")
        fp32 = stem.with_suffix(".onnx")
        if not fp32.exists():
            from edgecv.exporters.onnx_export import ExportOptions, export_onnx

            say(f"{m.name}: exporting to ONNX for the bench (no {fp32.name} beside it)")
            fp32 = export_onnx(m, ExportOptions(output=workdir / f"{group}.onnx")).path
        if "torch" in backends:  # FLOPs of eager torch: those of the same network's ONNX graph
            cands.append(Candidate(m, "torch", group=group, label="torch eager", flops_from=fp32))
        if "onnxruntime" in backends:
            cands.append(Candidate(fp32, "onnxruntime", group=group, label="onnxruntime fp32", flops_from=fp32))
            int8 = stem.with_name(f"{stem.name}.int8.onnx")
            if not int8.exists() and calib is not None:
                from edgecv.exporters.precision.int8 import Int8Options, quantize_int8

                say(f"{m.name}: quantizing to int8 with {calib} (minutes on large models)")
                int8 = quantize_int8(fp32, workdir / f"{group}.int8.onnx", Int8Options(calib=Path(calib))).path
            if any(n.startswith(f"{group}.") and ".int8." in n for n in given):
                pass  # given on the command line
            elif int8.exists():
                cands.append(Candidate(int8, "onnxruntime", group=group, label="onnxruntime int8", flops_from=fp32))
            else:
                skips.append(f"{group} int8: no {int8.name} beside the checkpoint; pass --calib DIR to quantize one")
            fp16 = stem.with_name(f"{stem.name}.fp16.onnx")
            why = _fp16_reason()
            if why:
                skips.append(f"{group} fp16: {why}")
            elif fp16.exists():
                cands.append(Candidate(fp16, "onnxruntime", group=group, label="onnxruntime fp16", flops_from=fp32))
            else:
                skips.append(f"{group} fp16: no {fp16.name} beside the checkpoint; export one with --precision fp16")
        if "tensorrt" in backends:
            reason = _tensorrt_reason()
            engine = stem.with_suffix(".engine")
            if reason:
                skips.append(f"{group} tensorrt: {reason}")
            elif engine.exists():
                cands.append(Candidate(engine, "tensorrt", group=group, label="tensorrt", flops_from=fp32))
            else:
                skips.append(f"{group} tensorrt: no {engine.name}; build it with edgecv export --format engine")
    # A model file given beside a checkpoint of the same name: its FLOPs are the network's, counted on
    # the fp32 graph (a quantized or fused graph hides MatMuls in QLinear / contrib ops).
    fp32_of = {c.group: c.flops_from for c in cands if c.label == "onnxruntime fp32"}
    for c in cands:
        if c.flops_from is None and c.group in fp32_of:
            c.flops_from = fp32_of[c.group]
    names = [c.label for c in cands]
    for c in cands:  # two files of one name (a/m.onnx, b/m.onnx): the rows say which is which
        if names.count(c.label) > 1 and c.label == c.path.name:
            c.label = str(c.path)
    return cands, skips


@dataclass
class BenchReport:
    """``edgecv bench``'s result: one row per (candidate, batch size), what was skipped and why, the CPU."""

    rows: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cpu: dict = field(default_factory=dict)

    def busy_rows(self) -> list[dict]:
        """Rows whose spread (p95 / p50) says the machine was busy while they were timed."""
        from edgecv.runtimes.bench import BUSY_SPREAD

        return [r for r in self.rows if r["spread"] > BUSY_SPREAD]

    def to_dict(self) -> dict:
        return {"cpu": self.cpu, "rows": self.rows, "skipped": self.skipped}


def run_bench(models: list[Path], batch_sizes: list[int], seconds: float = 3.0, backends=BENCH_BACKENDS, *,
              threads=None, data=None, calib=None, floor: bool = True, progress=None) -> BenchReport:
    """Plan every form of each model that runs here (``plan``), then time them side by side
    (``runtimes.bench.bench_candidates``).  ``data``: labelled images for accuracy (a name or a path
    ``edgecv.api.labelled_data`` reads, or ``LabelledData``)."""
    import tempfile

    from edgecv.cpuinfo import cpu_features

    for m in models:
        if not Path(m).exists():
            raise EdgecvError(f"{m} does not exist")
    unknown = set(backends) - set(BENCH_BACKENDS)
    if unknown:
        raise EdgecvError(f"--backends: unknown {', '.join(sorted(unknown))}", f"use {', '.join(BENCH_BACKENDS)}")
    if isinstance(data, (str, Path)):
        from edgecv.training.builtin import labelled_data

        data = labelled_data(data)
    say = progress or (lambda text: None)
    from edgecv.runtimes.bench import bench_candidates

    with tempfile.TemporaryDirectory(prefix="edgecv-bench-") as tmp:
        cands, skips = plan([Path(m) for m in models], list(backends), Path(tmp), calib, say)
        rows = bench_candidates(cands, list(batch_sizes), seconds, threads, floor=floor, data=data, on_step=say)
    return BenchReport(rows, skips, cpu_features())
