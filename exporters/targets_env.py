"""Running an exported file in another ONNX Runtime release, for real (torch-free).

A target's ONNX Runtime (``onnxruntime==1.16.3`` with ``numpy<2``) is installed by uv into a
throwaway virtual environment under ``$XDG_CACHE_HOME/edgecv/ort/<release>`` (seconds once uv's cache
holds the wheels; built in a temporary folder, then renamed into place, so a half-built one is never
used), and the file is run there in a subprocess on inputs passed as ``.npy`` files.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgecv.errors import EdgecvError

_RUN = r"""
import sys, numpy as np, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
np.save(sys.argv[3], s.run(None, {s.get_inputs()[0].name: x})[0])
print(ort.__version__)
"""


def _cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgecv" / "ort"


def _uv() -> str:
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    if not found:
        raise EdgecvError("uv is not installed, and it builds the target's runtime environment",
                          "pip install uv")
    return found


def ort_python(release: str) -> Path:
    """The Python of an environment holding ``onnxruntime==release`` (built on first use)."""
    env = _cache() / release
    py = env / "bin" / "python"
    if (env / ".complete").exists():
        return py
    env.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{release}-", dir=env.parent))
    try:
        # this interpreter's Python: uv must not go looking for (or downloading) another one
        for cmd in ([_uv(), "venv", "-q", "-p", sys.executable, str(tmp)],
                    [_uv(), "pip", "install", "-q", "-p", str(tmp / "bin" / "python"),
                     f"onnxruntime=={release}", "numpy<2"]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if r.returncode:
                tail = (r.stderr.strip().splitlines() or ["?"])[-1]
                raise EdgecvError(f"could not install onnxruntime=={release}: {tail[:200]}",
                                  "check the network to the package index")
        (tmp / ".complete").touch()
        try:
            tmp.rename(env)
        except OSError:  # another process built it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return py


def run_in_release(release: str, model: Path, x: np.ndarray) -> tuple[np.ndarray, str]:
    """The first output of ``model`` on ``x`` in ONNX Runtime ``release``, and the version that ran it."""
    py, model = ort_python(release), Path(model)
    with tempfile.TemporaryDirectory() as d:
        script, xin, yout = Path(d) / "run.py", Path(d) / "x.npy", Path(d) / "y.npy"
        script.write_text(_RUN)
        np.save(xin, x)
        r = subprocess.run([str(py), str(script), str(model), str(xin), str(yout)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode:
            last = next((ln for ln in reversed(r.stderr.strip().splitlines()) if ln.strip()), "?")
            # "[ONNXRuntimeError] ... model.cc:149 onnxruntime::Model::Model(...) Unsupported model IR version: 10"
            last = re.sub(r"^.*\.cc:\d+ \S+?\(.*?\) (?=[A-Z])", "", last)
            raise EdgecvError(f"onnxruntime {release} cannot run {model.name}: {last[-300:]}")
        return np.load(yout), r.stdout.strip().splitlines()[-1]
