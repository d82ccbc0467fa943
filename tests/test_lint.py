"""Style is enforced, not hoped for: ruff (with the type-annotation rules) passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_passes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "bijective", "tests", "examples", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
