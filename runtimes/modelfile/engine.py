"""What a TensorRT engine is tied to, recorded beside it and checked before it runs (deploy side,
no tensorrt needed): the ONNX it came from, precision, batch profile, TensorRT version, GPU."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from edgecv.errors import EdgecvError
from edgecv.fileio import atomic_write_text
from edgecv.spec import ModelSpec


def gpu_identity() -> dict:
    """{"gpu": name, "compute_capability": "9.0"} of device 0 (nvidia-smi), or {} without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        return {}
    if not out or "," not in out[0]:
        return {}
    name, cc = (s.strip() for s in out[0].rsplit(",", 1))
    return {"gpu": name, "compute_capability": cc}


def engine_key(onnx_sha256: str, precision: str, profile: tuple[int, int, int] | None, workspace_gib: float,
               trt_version: str, gpu: dict) -> dict:
    return {"onnx_sha256": onnx_sha256, "precision": precision, "profile": list(profile) if profile else None,
            "workspace_gib": workspace_gib, "tensorrt": trt_version, "gpu": gpu.get("gpu"),
            "compute_capability": gpu.get("compute_capability")}


def foreign_reason(stored: dict, trt_version: str, gpu: dict) -> str | None:
    """Why an engine built elsewhere must not run here (TensorRT engines are tied to both)."""
    if not stored:
        return "its sidecar records no TensorRT build (an engine from elsewhere?)"
    if stored.get("tensorrt") != trt_version:
        return f"it was built by TensorRT {stored.get('tensorrt')}, this is TensorRT {trt_version}"
    if gpu and (stored.get("gpu"), stored.get("compute_capability")) != (gpu.get("gpu"), gpu.get("compute_capability")):
        return (f"it was built for {stored.get('gpu')} (compute {stored.get('compute_capability')}), "
                f"this is {gpu.get('gpu')} (compute {gpu.get('compute_capability')})")
    return None


def stale_reason(stored: dict, want: dict) -> str | None:
    """Why a cached engine does not match what is asked now (None: reuse it)."""
    for k, label in (("onnx_sha256", "the ONNX file changed"), ("precision", "another precision"),
                     ("profile", "another batch profile"), ("workspace_gib", "another workspace limit"),
                     ("tensorrt", "another TensorRT"), ("gpu", "another GPU"),
                     ("compute_capability", "another compute capability")):
        if stored.get(k) != want.get(k):
            return label
    return None


def sidecar_path(engine: Path) -> Path | None:
    """``model.engine`` -> ``model.engine.json`` or ``model.json`` (first that exists)."""
    for cand in (engine.with_name(engine.name + ".json"), engine.with_suffix(".json")):
        if cand.is_file():
            return cand
    return None


def read_sidecar(engine: Path) -> ModelSpec:
    side = sidecar_path(engine)
    if side is None:
        raise EdgecvError(f"{engine} has no spec sidecar ({engine.name}.json)",
                          "write the model's spec beside it: `edgecv info MODEL.onnx --json` has it under 'spec'")
    try:
        return ModelSpec.from_json(side.read_text())
    except EdgecvError as e:
        raise EdgecvError(f"{side}: the engine's spec sidecar is invalid: {e.message}") from None


def read_engine_info(engine: Path) -> dict:
    """The build identity recorded beside an engine ({} when there is none or it is unreadable)."""
    try:
        return dict(read_sidecar(Path(engine)).extra.get("tensorrt") or {})
    except EdgecvError:
        return {}


def write_sidecar(engine: Path, spec: ModelSpec) -> Path:
    """The spec beside the engine, written atomically (never a half-written sidecar)."""
    return atomic_write_text(engine.with_name(engine.name + ".json"),
                             lambda f: f.write(json.dumps(spec.to_dict(), indent=1)))
