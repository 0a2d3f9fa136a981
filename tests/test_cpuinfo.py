"""CPU features from /proc/cpuinfo (x86 flags and ARM Features), and the INT8 warning on a CPU whose
int8 kernels differ from those the file was made for."""
import json
from pathlib import Path

import onnx
import pytest
from typer.testing import CliRunner

from edgecv.cli import app
from edgecv.cpuinfo import int8_mismatch, parse_cpuinfo
from edgecv.exporters.precision.int8 import int8_candidates
from edgecv.spec import METADATA_KEY, ModelSpec

DATA = Path(__file__).parent / "data" / "cpuinfo"


def _text(name):
    return (DATA / name).read_text()


def _vnni_text():  # this machine's block with the AVX-512 VNNI flags an Ice Lake server adds
    return _text("x86_amd_epyc_avx2.txt").replace(" avx2 ", " avx2 avx512f avx512bw avx512_vnni ")


def test_jetson_orin_reads_as_a78ae_with_dot_product():
    f = parse_cpuinfo(_text("jetson_orin_agx.txt"))
    assert f["arch"] == "aarch64" and f["model"] == "Cortex-A78AE"
    assert f["isa"] == "ARMv8 NEON + dot product" and f["dotprod"] and not f["i8mm"] and not f["sve"]
    assert f["int8_kernel"] == "arm64-dotprod" and not f["avx2"]


def test_raspberry_pi_5_names_core_and_board():
    f = parse_cpuinfo(_text("raspberry_pi_5.txt"))
    assert f["model"] == "Cortex-A76 on Raspberry Pi 5 Model B Rev 1.0"
    assert f["isa"] == "ARMv8 NEON + dot product" and f["int8_kernel"] == "arm64-dotprod"


def test_neoverse_v2_has_i8mm_and_sve():
    f = parse_cpuinfo(_text("aws_graviton4_neoverse_v2.txt"))
    assert f["isa"] == "ARMv8 NEON + dot product + i8mm + SVE" and f["int8_kernel"] == "arm64-i8mm"


def test_x86_flags_and_unknown_text():
    avx2 = parse_cpuinfo(_text("x86_amd_epyc_avx2.txt"))
    assert avx2["isa"] == "AVX2" and avx2["int8_kernel"] == "x86-avx2" and avx2["model"] == "AMD EPYC"
    vnni = parse_cpuinfo(_vnni_text())
    assert vnni["isa"] == "AVX-512 + VNNI" and vnni["int8_kernel"] == "x86-vnni"
    assert parse_cpuinfo("", "x86_64")["isa"] == "baseline"  # no cpuinfo (not Linux): says so, no crash


@pytest.mark.parametrize("built,acts,running,warns", [
    ("x86-vnni", "u8", "x86_amd_epyc_avx2.txt", True),  # VNNI -> AVX2: 16-bit saturation appears
    ("x86-avx2", "u8", "x86_amd_epyc_avx2.txt", False),  # same kernels
    ("x86-vnni", "u8-reduced", "x86_amd_epyc_avx2.txt", False),  # reduce-range cannot saturate
    ("x86-vnni", "u8", "jetson_orin_agx.txt", True),  # x86 file on an ARM box
    ("arm64-dotprod", "s8", "aws_graviton4_neoverse_v2.txt", False),  # both accumulate in 32 bits
])
def test_int8_mismatch(built, acts, running, warns):
    why = int8_mismatch({"int8_kernel": built, "activations": acts, "cpu": "X"}, parse_cpuinfo(_text(running)))
    assert bool(why) == warns, why


def test_files_from_before_int8_kernel_was_recorded_are_judged_by_their_isa():
    running = parse_cpuinfo(_text("x86_amd_epyc_avx2.txt"))
    assert int8_mismatch({"cpu": "AVX-512 + VNNI", "activations": "u8"}, running)
    assert int8_mismatch({"cpu": "AVX2", "activations": "u8"}, running) is None


def test_target_cpu_without_vnni_built_elsewhere_tries_reduce_range_only():
    assert int8_candidates("auto", "x86-vnni", "x86-avx2") == ["u8-reduced"]
    assert int8_candidates("auto", "x86-avx2", "x86-avx2") == ["u8", "u8-reduced", "s8"]
    assert int8_candidates("auto", "x86-avx2", "arm64-dotprod") == ["u8", "s8"]
    assert int8_candidates("s8", "x86-vnni", "x86-avx2") == ["s8"]  # stated: as stated


def _int8_labelled(src: Path, dst: Path, int8: dict):
    m = onnx.load(src)
    props = {p.key: p.value for p in m.metadata_props}
    spec = ModelSpec.from_json(props[METADATA_KEY])
    spec.extra = {**spec.extra, "precision": "int8", "int8": int8}
    onnx.helper.set_model_props(m, {**props, METADATA_KEY: spec.to_json()})
    onnx.save(m, dst)


def test_run_warns_once_when_the_running_cpu_lacks_the_files_int8_kernels(sample_onnx, digit_images, tmp_path,
                                                                        monkeypatch):
    import edgecv.cpuinfo as ci
    import edgecv.runtimes.backends.onnxrt as ox

    monkeypatch.setattr(ci, "cpu_features", lambda: parse_cpuinfo(_text("x86_amd_epyc_avx2.txt")))
    monkeypatch.setattr(ox, "_WARNED", set())
    vnni, reduced = tmp_path / "vnni.onnx", tmp_path / "reduced.onnx"
    _int8_labelled(sample_onnx, vnni, {"cpu": "AVX-512 + VNNI", "int8_kernel": "x86-vnni", "activations": "u8"})
    _int8_labelled(sample_onnx, reduced, {"cpu": "AVX-512 + VNNI", "int8_kernel": "x86-vnni",
                                          "activations": "u8-reduced"})
    runner = CliRunner()
    r = runner.invoke(app, ["run", str(vnni), *map(str, digit_images[:3]), "--json"])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if "int8" in ln]
    assert len(lines) == 1 and "x86-vnni" in lines[0] and "x86-avx2" in lines[0] and "edgecv verify" in lines[0]
    assert len([json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]) == 3  # it still runs
    r = runner.invoke(app, ["run", str(reduced), *map(str, digit_images[:3]), "--json"])
    assert r.exit_code == 0 and "int8" not in r.stderr, r.stderr
    monkeypatch.setattr(ci, "cpu_features", lambda: parse_cpuinfo(_vnni_text()))
    monkeypatch.setattr(ox, "_WARNED", set())
    r = runner.invoke(app, ["run", str(vnni), *map(str, digit_images[:1]), "--json"])
    assert r.exit_code == 0 and "int8" not in r.stderr, r.stderr  # on a VNNI CPU: nothing to say
