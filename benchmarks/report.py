"""Writes a benchmark's results: JSON (rows, the machine, the library versions and the
settings) and a Markdown table. Nothing machine-specific beyond the CPU model is recorded:
no absolute paths."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"
LIBRARIES = (
    "bijective",
    "nflows",
    "zuko",
    "normflows",
    "torchdiffeq",
    "numpy",
    "scikit-learn",
    "sbi",
    "sdv",
    "ctgan",
    "sdmetrics",
    "pandas",
)


def versions() -> dict[str, str | None]:
    """The installed version of every library a benchmark may time (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform's description."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """What a reader needs to compare a result file with another run. `threads` is the
    writing process's torch thread count; a benchmark whose runs use others says so in
    its settings (which replace it) or rows."""
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "libraries": versions(),
    }


def markdown(header: list[str], cells: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def write(name: str, settings: dict, rows: list[dict], text: str) -> None:
    """results/NAME.json (the machine, library versions and settings, then the rows) and
    results/NAME.md (`text`)."""
    meta = {**machine(), **settings}
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(text.strip() + "\n")


def save(
    name: str,
    settings: dict,
    rows: list[dict],
    header: list[str],
    cells: list[list[str]],
    notes: str = "",
) -> None:
    """write() with one table, then `notes`."""
    write(name, settings, rows, markdown(header, list(cells)) + (f"\n\n{notes}" if notes else ""))
