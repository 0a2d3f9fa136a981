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
