"""Metrics written as CSV rows as training runs (and to TensorBoard when installed)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .faults import write_atomically, writing


@dataclass(frozen=True)
class Metric:
    """What an experiment's `validate` returns, lower being better: `key`, its column in
    metrics.csv, and `label`, what logs and plots call it (each kind carries its own)."""

    key: str
    label: str


NLL = Metric("val_nll", "NLL")  # density estimation's, the default


def columns(metric: str) -> tuple[str, ...]:
    """The CSV columns of a run validated by the metric whose key is `metric`."""
    return ("step", "loss", "lr", metric, "skipped", "seconds")


class MetricsLog:
    """Appends one row per step to `path`; resuming at `step` drops the rows past it
    (written after the checkpoint the run resumes from). `metric` names the validation
    column: val_nll for density estimation, val_kl for variational inference."""

    def __init__(
        self,
        path: Path,
        resume_step: int | None = None,
        metric: str = "val_nll",
        log: Callable[[str], None] = print,
    ) -> None:
        self.path = path
        self.metric = metric
        fields = columns(metric)
        rows = []
        if resume_step is not None and path.exists():
            try:
                rows = [r for r in _read_rows(path, fields) if int(r["step"]) <= resume_step]
            except (ValueError, KeyError, TypeError, UnicodeDecodeError, csv.Error) as error:
                path.replace(path.with_name(path.name + ".corrupt"))
                log(f"{path}: unreadable ({error}); kept as {path.name}.corrupt, starting afresh")
                rows = []
        self._fields = fields
        write_atomically(path, self._format(rows, header=True))
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 (closed by close())
        self._board = _tensorboard(path.parent)

    def _format(self, rows: list[dict[str, Any]], header: bool = False) -> bytes:
        text = io.StringIO()
        writer = csv.DictWriter(text, self._fields, lineterminator="\n")
        if header:
            writer.writeheader()
        writer.writerows(rows)
        return text.getvalue().encode()

    def write(self, **row: Any) -> None:
        """Appends the row whole: a write that fails (a full disk) is cut back off, so the
        file never ends in half a row."""
        line, end = self._format([row]), self._file.tell()
        with writing(self.path, len(line)):
            try:
                self._file.write(line)
            except OSError:
                os.ftruncate(self._file.fileno(), end)
                raise
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


def _read_rows(path: Path, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows as written (strings), checked: the expected columns, numbers or empty."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    if tuple(reader.fieldnames or ()) != fields:
        raise ValueError(f"columns {reader.fieldnames}, expected {list(fields)}")
    for line, row in enumerate(rows, 2):
        if None in row or any(v is None or (v != "" and not _is_number(v)) for v in row.values()):
            raise ValueError(f"line {line} is malformed")
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_metrics(path: Path) -> list[dict[str, float | None]]:
    """The rows of a metrics CSV as numbers (None where a column is empty); ValueError
    (or csv.Error, UnicodeDecodeError) for one that is not."""
    with open(path, newline="", encoding="utf-8") as f:
        return [
            {k: float(v) if v != "" else None for k, v in row.items()} for row in csv.DictReader(f)
        ]
