"""The CPU's instruction set, as int8 and fp32 speed depend on it (torch-free)."""
from __future__ import annotations

import platform
from functools import lru_cache


# ARM core names by "CPU implementer" 0x41 (Arm Ltd) and "CPU part" (the boards edge users meet)
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
             "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
             "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
             "0xd42": "Cortex-A78AE", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710",
             "0xd49": "Neoverse-N2", "0xd4f": "Neoverse-V2"}


# x86 int8 kernels without VNNI: u8 x s8 pairs summed in 16 bits, so they saturate
SATURATING_KERNELS = ("x86-avx2", "x86-avx512", "x86")


def parse_cpuinfo(text: str, machine: str = "") -> dict:
    """The CPU features that decide int8 and fp32 speed and int8 results, from ``/proc/cpuinfo`` text:
    x86's ``flags`` (AVX2, AVX-512, VNNI) or ARM's ``Features`` (asimd, asimddp, i8mm, sve).

    ``int8_kernel`` names the family of ONNX Runtime int8 kernels this CPU runs, which is what
    decides whether an INT8 file gives the same numbers here as where it was built (``int8_mismatch``).
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key and key not in fields:  # the first processor's block (and the trailing board lines)
            fields[key] = value.strip()
    flags = set(fields.get("flags", "").split())
    feats = set(fields.get("Features", "").split())
    arm = bool(feats) and not flags or machine in ("aarch64", "arm64")
    if arm:
        part = ARM_PARTS.get(fields.get("CPU part", "").lower()) if fields.get("CPU implementer") == "0x41" else None
        board = fields.get("Model") or fields.get("Hardware")
        model = " on ".join(x for x in (part, board) if x) or fields.get("model name") or machine or "ARM"
        dot, i8mm, sve = "asimddp" in feats, "i8mm" in feats, "sve" in feats
        isa = "ARMv8 NEON" if "asimd" in feats else "ARMv8"
        isa += "".join(f" + {w}" for ok, w in ((dot, "dot product"), (i8mm, "i8mm"), (sve, "SVE")) if ok)
        kernel = "arm64-i8mm" if i8mm else "arm64-dotprod" if dot else "arm64"
        return {"model": model, "arch": "aarch64", "isa": isa, "avx2": False, "avx512": False, "vnni": False,
                "dotprod": dot, "i8mm": i8mm, "sve": sve, "int8_kernel": kernel}
    vnni = bool({"avx512_vnni", "avx_vnni"} & flags)
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "AVX" if "avx" in flags else "baseline"
    kernel = "x86-vnni" if vnni else "x86-avx512" if "avx512bw" in flags else "x86-avx2" if "avx2" in flags else "x86"
    return {"model": fields.get("model name") or machine or "x86", "arch": "x86_64", "isa": isa + (" + VNNI" if vnni else ""),
            "avx2": "avx2" in flags, "avx512": "avx512f" in flags, "vnni": vnni, "dotprod": False, "i8mm": False,
            "sve": False, "int8_kernel": kernel}


@lru_cache(maxsize=1)
def cpu_features() -> dict:
    """``parse_cpuinfo`` of this machine (the processor name from ``platform`` where cpuinfo has none)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        text = ""
    feats = parse_cpuinfo(text, platform.machine())
    if feats["model"] in ("x86", "ARM", platform.machine()) and platform.processor():
        feats["model"] = platform.processor()
    return feats


def kernel_of_isa(isa: str) -> str:
    """The int8 kernel family of an ``isa`` string as files before ``int8_kernel`` recorded it."""
    if isa.startswith("ARM"):
        return "arm64-i8mm" if "i8mm" in isa else "arm64-dotprod" if "dot product" in isa else "arm64"
    return "x86-vnni" if "VNNI" in isa else "x86-avx512" if "AVX-512" in isa else "x86-avx2" if "AVX2" in isa else "x86"


def int8_mismatch(recorded: dict, running: dict) -> str | None:
    """Why an INT8 file built on ``recorded`` (its spec's ``int8`` entry) may answer differently on
    ``running`` (``cpu_features()``), in words; None when the int8 kernels agree.

    ONNX Runtime's x86 u8 x s8 kernels without VNNI add pairs of products in 16 bits and saturate
    (onnxruntime#5849, #6004); VNNI and ARM's dot-product kernels accumulate in 32 bits.  Weights
    quantized with reduce-range (7 bits, ``u8-reduced``) cannot saturate, so such files agree anywhere
    the kernels share an instruction family.
    """
    built = recorded.get("int8_kernel") or kernel_of_isa(str(recorded.get("cpu", "")))
    here = running["int8_kernel"]
    if built == here:
        return None
    families = {k.split("-")[0] for k in (built, here)}
    saturating = set(SATURATING_KERNELS)
    if len(families) == 1 and recorded.get("activations") == "u8-reduced":
        return None  # reduce-range: no 16-bit saturation on either side
    if len(families) == 1 and not ({built, here} & saturating):
        return None  # both accumulate in 32 bits (VNNI vs AVX-512 VNNI, dot product vs i8mm)
    return (f"this INT8 file was made for {built} int8 kernels (built on {recorded.get('cpu') or '?'}); "
            f"this CPU runs {running['isa']} ({here} kernels), whose int8 arithmetic differs"
            + (" (16-bit saturation without VNNI)" if {built, here} & saturating and len(families) == 1 else "")
            + ": its answers may differ from those measured at export")


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
