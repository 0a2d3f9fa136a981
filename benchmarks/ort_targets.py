"""What each ONNX Runtime release loads, measured: the highest IR version and opset it accepts.

    python benchmarks/ort_targets.py [1.16.3 1.17.3 ...]

Each release is installed by uv into a throwaway environment (``edgecv.targets_env``, cached under
``~/.cache/edgecv/ort``) and asked to load one-Relu models stamped with IR versions 3-13 and opsets
13-28.  A model "loads" when the session is created and runs without an error; a load that only
warns (ONNX Runtime calls some opsets "under development") is counted as refused, as a deploy box
would log it.  The ``--target`` table in ``exporters/targets.py`` is checked against these numbers
(``test_targets.py`` re-runs 1.16.3).  Writes benchmarks/results/ort_targets.md.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORT = HERE / "results" / "ort_targets.md"
RELEASES = ["1.14.1", "1.15.1", "1.16.3", "1.17.3", "1.18.1", "1.19.2", "1.20.1", "1.21.1", "1.22.1"]

PROBE = r"""
import json, sys, io, contextlib, numpy as np, onnxruntime as ort
ort.set_default_logger_severity(2)
out = {"version": ort.__version__}
for kind in ("ir", "opset"):
    ok = []
    for path in sorted(sys.argv[1:]):
        if f"/{kind}_" not in path:
            continue
        n = int(path.rsplit("_", 1)[1].split(".")[0])
        try:
            s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            s.run(None, {"x": np.ones((1, 2), np.float32)})
            ok.append(n)
        except Exception as e:
            out.setdefault(kind + "_errors", {})[n] = str(e).splitlines()[0][:160]
    out[kind] = ok
print(json.dumps(out))
"""


def probe_models(folder: Path) -> list[Path]:
    import onnx
    from onnx import TensorProto, helper

    paths = []
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    for ir in range(3, 14):
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = ir
        paths.append(folder / f"ir_{ir}.onnx")
        onnx.save(m, paths[-1])
    for opset in range(13, 29):
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 7
        paths.append(folder / f"opset_{opset}.onnx")
        onnx.save(m, paths[-1])
    return paths


def measure(release: str, models: list[Path]) -> dict:
    import subprocess

    from edgecv.exporters.targets_env import ort_python

    try:
        py = ort_python(release)
    except Exception as e:  # noqa: BLE001 - not installable here: said in the table
        return {"version": release, "error": str(e)[:200]}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(PROBE)
    r = subprocess.run([str(py), f.name, *map(str, models)], capture_output=True, text=True, timeout=300)
    Path(f.name).unlink()
    if r.returncode:
        return {"version": release, "error": r.stderr.strip().splitlines()[-1][:200]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(releases: list[str]) -> None:
    from edgecv.exporters.targets import TARGETS

    with tempfile.TemporaryDirectory() as d:
        models = probe_models(Path(d))
        rows = [measure(r, models) for r in releases]
    table = {t.requirement.split("==")[1]: t for t in TARGETS.values() if t.requirement}
    lines = ["# What each ONNX Runtime release loads", "",
             "`python benchmarks/ort_targets.py` on this machine: each release installed by uv into a "
             "throwaway environment, one-Relu models stamped with IR 3-13 and opset 13-28 loaded and run.", "",
             "| release | highest IR loaded | highest opset loaded | `--target` | table says IR / opset | agrees |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['version']} | not installable here: {row['error']} | | | | |")
            continue
        ir, op = max(row["ir"], default=0), max(row["opset"], default=0)
        t = table.get(row["version"])
        said = f"{t.ir_version} / {t.opset}" if t else ""
        agrees = "" if not t else ("yes" if (t.ir_version, t.opset) == (ir, op) else "NO")
        lines.append(f"| {row['version']} | {ir} | {op} | {t.name if t else ''} | {said} | {agrees} |")
        print(row["version"], "IR", ir, "opset", op, said, agrees, flush=True)
    REPORT.write_text("\n".join(lines) + "\n")
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main(sys.argv[1:] or RELEASES)
