"""Writes a benchmark's results: JSON (rows plus the machine and settings) and a Markdown table."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def save(
    name: str, settings: dict, rows: list[dict], header: list[str], cells: list[list[str]]
) -> None:
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        **settings,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
