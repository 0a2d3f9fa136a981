"""Every runnable example in the documentation runs, on the sample model: ```bash blocks line by line
through the CLI (in this process), ```python blocks as they are.  ```text blocks are illustrations
(a camera, a GPU, a server).  The docs cannot drift from the code."""
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)


def examples():
    for page in PAGES:
        for i, m in enumerate(FENCE.finditer(page.read_text(encoding="utf-8"))):
            yield pytest.param(m.group(1), m.group(2), id=f"{page.stem}-{i}-{m.group(1)}")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder like a clone's root: the samples (model, digits, photos) and nothing else."""
    d = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "samples", d / "samples", ignore=shutil.ignore_patterns("*.onnx", "*.mkv"))
    return d


def test_the_docs_have_runnable_examples():
    kinds = [p.values[0] for p in examples()]
    assert kinds.count("bash") >= 2 and kinds.count("python") >= 4


@pytest.mark.parametrize("kind,code", list(examples()))
def test_example_runs(kind, code, workdir, monkeypatch):
    from edgecv.cli import app

    monkeypatch.chdir(workdir)
    if kind == "python":
        exec(compile(code, "<docs example>", "exec"), {"__name__": "__docs__"})
        return
    runner = CliRunner()
    for line in code.splitlines():
        line = line.split(" #")[0].strip()
        if not line:
            continue
        argv = shlex.split(line)
        assert argv[0] == "edgecv", f"a shell example that is not an edgecv command: {line}"
        r = runner.invoke(app, argv[1:])
        assert r.exit_code == 0, (line, r.output[-2000:])
    assert os.getcwd() == str(workdir)


def test_the_site_builds_strictly(tmp_path):
    """`make docs`: every page in the nav, every link and every API reference resolves (mkdocs --strict,
    mkdocstrings reading the docstrings)."""
    import subprocess
    import sys

    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    src = tmp_path / "src"
    shutil.copytree(ROOT / "toolkit", src / "edgecv")
    shutil.copytree(ROOT / "runtimes", src / "edgecv" / "runtimes")
    shutil.copytree(ROOT / "exporters", src / "edgecv" / "exporters")
    config = (ROOT / "mkdocs.yml").read_text().replace("paths: [build/docs-src]", f"paths: [{src}]")
    (tmp_path / "mkdocs.yml").write_text(config.replace("docs_dir: docs", f"docs_dir: {ROOT / 'docs'}"))
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml"),
                        "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert all(f"edgecv.api.{name}" in api for name in ("export", "verify", "load", "evaluate", "bench"))
