"""Metrics written as CSV rows as training runs (and to TensorBoard when installed)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

METRICS = {
    "val_nll": "validation NLL",
    "val_kl": "validation KL(q || p)",
    "val_neg_elbo": "validation -ELBO",
}


def columns(metric: str) -> tuple[str, ...]:
    """The CSV columns of a run validated by `metric` (a key of METRICS)."""
    return ("step", "loss", "lr", metric, "skipped", "seconds")


class MetricsLog:
    """Appends one row per step to `path`; resuming at `step` drops the rows past it
    (written after the checkpoint the run resumes from). `metric` names the validation
    column: val_nll for density estimation, val_kl for variational inference."""

    def __init__(self, path: Path, resume_step: int | None = None, metric: str = "val_nll") -> None:
        self.path = path
        self.metric = metric
        fields = columns(metric)
        rows = []
        if resume_step is not None and path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fields)
            writer.writeheader()
            writer.writerows(rows)
        self._file = open(path, "a", newline="")  # noqa: SIM115 (closed by close())
        self._writer = csv.DictWriter(self._file, fields)
        self._board = _tensorboard(path.parent)

    def write(self, **row: Any) -> None:
        self._writer.writerow(row)
        self._file.flush()
        if self._board is not None:
            for key in ("loss", "lr", self.metric):
                if row.get(key) not in (None, ""):
                    self._board.add_scalar(key, row[key], row["step"])

    def close(self) -> None:
        self._file.close()
        if self._board is not None:
            self._board.close()


def _tensorboard(directory: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    return SummaryWriter(str(directory / "tensorboard"))


def read_metrics(path: Path) -> list[dict[str, float | None]]:
    """The rows of a metrics CSV as numbers (None where a column is empty)."""
    with open(path, newline="") as f:
        return [
            {k: float(v) if v != "" else None for k, v in row.items()} for row in csv.DictReader(f)
        ]
