"""The documentation site: every tutorial's code runs as written (a page's Python blocks
in order, in one fresh interpreter), and the site builds with `mkdocs build --strict`."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if "```python" in p.read_text())


def test_the_tutorials_are_all_there() -> None:
    names = {p.relative_to(ROOT / "docs").as_posix() for p in PAGES}
    assert names >= {
        "getting-started.md",
        "tutorials/own-data.md",
        "tutorials/variational-inference.md",
        "tutorials/vae.md",
        "tutorials/image-flows.md",
        "tutorials/autoregressive.md",
        "tutorials/sharing.md",
        "tutorials/transformer-flows.md",
        "tutorials/flow-matching.md",
        "tutorials/tables.md",
    }


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """A command in a fresh interpreter's environment plus `env`, output captured."""
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=600, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_a_pages_code_runs_as_written(page: Path, tmp_path) -> None:
    code = "\n".join(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
    run([sys.executable, "-c", code], tmp_path, OMP_NUM_THREADS="1")


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="pip install -e .[docs]")
def test_the_site_builds_strictly(tmp_path) -> None:
    site = str(tmp_path / "site")
    run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", site],
        ROOT,
        NO_MKDOCS_2_WARNING="1",
    )
    assert (tmp_path / "site" / "reference" / "flows" / "index.html").exists()
