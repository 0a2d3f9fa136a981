"""The CPU's instruction set, as int8 and fp32 speed depend on it (torch-free)."""
from __future__ import annotations

import platform
from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_features() -> dict:
    flags: set[str] = set()
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                elif line.startswith("model name") and model in ("", platform.machine(), "x86_64"):
                    model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    vnni = bool({"avx512_vnni", "avx_vnni"} & flags)
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "AVX" if "avx" in flags else "baseline"
    return {"model": model, "isa": isa + (" + VNNI" if vnni else ""), "avx2": "avx2" in flags,
            "avx512": "avx512f" in flags, "vnni": vnni}


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores this process may use (ONNX Runtime's default intra-op thread count)."""
    import os

    try:
        allowed = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        allowed = os.cpu_count() or 1
    cores, cpu = set(), {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("physical id", "core id"):
                    cpu[key] = value.strip()
                elif not key and cpu:
                    cores.add((cpu.get("physical id"), cpu.get("core id")))
                    cpu = {}
        if cpu:
            cores.add((cpu.get("physical id"), cpu.get("core id")))
    except OSError:
        pass
    return max(1, min(allowed, len(cores) or allowed))
