"""Small shared helpers for tests (export to ONNX in memory, run in ONNX Runtime)."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import torch


def export_proto(model, example, dynamic=True, exporter="dynamo"):
    from edgecv.exporters.trace import export_graph
    from edgecv.exporters.scan_conv import expand_scan_nodes

    torch._dynamo.reset()
    art = export_graph(model, example, dynamic, None, exporter)
    if hasattr(art, "optimize"):
        art.optimize()
    proto = getattr(art, "model_proto", art)
    expand_scan_nodes(proto)
    return proto


def ort_run(proto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def rel_err(ref, got) -> float:
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.abs(ref - got).max() / (np.abs(ref).max() or 1.0))


def assert_same_topk(got: list[list[dict]], expected: list[list[dict]], prob_tol: float = 1e-4):
    """Per image: the same classes in the same order, probabilities within ``prob_tol`` (the two
    sides may reach them through different float kernels, e.g. a BGR frame against its RGB copy).
    Two classes whose probabilities tie within the tolerance may swap places."""
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert len(g) == len(e), (i, g, e)
        want = {x["index"]: x for x in e}
        for a, b in zip(g, e):
            assert abs(a["prob"] - b["prob"]) <= prob_tol, (i, g, e)
            same_or_tie = a["index"] == b["index"] or (
                a["index"] in want and abs(want[a["index"]]["prob"] - b["prob"]) <= 2 * prob_tol)
            assert same_or_tie and a["label"] == want[a["index"]]["label"], (i, g, e)


BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "PIL", "tensorrt"):
            raise ImportError(name + " is not allowed on the deploy side")
sys.meta_path.insert(0, Block())
"""


def run_cli_without_torch(argv: list[str], cwd) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess in which importing torch, PIL or tensorrt raises."""
    code = BLOCK_TORCH + textwrap.dedent(f"""
        import sys
        sys.argv = ["edgecv"] + {argv!r}
        from edgecv.cli import main
        try:
            main()
        except SystemExit:
            assert "torch" not in sys.modules and "PIL" not in sys.modules
            raise
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)


def run_cli_many_without_torch(argvs: list[list[str]], cwd) -> list[subprocess.CompletedProcess]:
    """Several CLI commands in one subprocess in which importing torch, PIL or tensorrt raises (one
    interpreter start instead of one per command); each gets its own exit code, stdout and stderr."""
    code = BLOCK_TORCH + textwrap.dedent(f"""
        import contextlib, io, json, sys
        from edgecv.cli import main
        results, real_stdout = [], sys.stdout
        for argv in {argvs!r}:
            out, err = io.StringIO(), io.StringIO()
            sys.argv = ["edgecv"] + argv
            code = 0
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    main()
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            results.append([code, out.getvalue(), err.getvalue()])
        assert "torch" not in sys.modules and "PIL" not in sys.modules
        real_stdout.write(json.dumps(results))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [subprocess.CompletedProcess(argv, c, o, e) for argv, (c, o, e) in zip(argvs, json.loads(proc.stdout))]


def mixed_images(folder, digit_images, n_digits: int):
    """A folder of real images as users have them: ``n_digits`` digits, the sample photos and one
    file that is not an image (``broken.png``); returns the sorted paths."""
    import shutil

    folder.mkdir()
    for p in digit_images[:n_digits]:
        shutil.copy(p, folder / f"{p.parent.name}_{p.name}")
    for p in sorted((digit_images[0].parents[2] / "photos").glob("*.jpg")):
        shutil.copy(p, folder / p.name)
    (folder / "broken.png").write_bytes(b"\x89PNG but not an image")
    return sorted(folder.iterdir())
