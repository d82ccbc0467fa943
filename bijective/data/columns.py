"""Columns of a table: picked by header name or index, parsed as numbers (or one clear
error naming the column), a label column turned into classes 0..K-1; a CSV file read as a
table of strings with its header.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

Column = str | int


def pick(names: Sequence[str], wanted: Column, where: str) -> int:
    """The index of a column given by name or by (possibly negative) index."""
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        if not -len(names) <= wanted < len(names):
            raise ValueError(f"{where}: column {wanted} out of range for {len(names)} columns")
        return wanted % len(names)
    if wanted not in names:
        raise ValueError(f"{where}: no column {wanted!r}; columns: {', '.join(names)}")
    return list(names).index(wanted)


def select(
    names: Sequence[str], columns: Sequence[Column] | None, label: Column | None, where: str
) -> tuple[list[int], int | None]:
    """The indices of the feature columns and of the label column."""
    label_index = None if label is None else pick(names, label, f"{where}: label")
    if columns is None:
        picked = [i for i in range(len(names)) if i != label_index]
    else:
        picked = [pick(names, c, f"{where}: columns") for c in columns]
        if label_index in picked:
            raise ValueError(f"{where}: the label column {names[label_index]!r} is also a feature")
    if not picked:
        raise ValueError(f"{where}: no feature columns left")
    return picked, label_index


def numeric(values: np.ndarray, name: str, where: str) -> np.ndarray:
    """A column as numbers (strings parsed), or an error naming it."""
    try:
        return values.astype(np.float64)
    except (ValueError, TypeError):
        raise ValueError(
            f"{where}: column {name!r} is not numeric; model a table of mixed columns with "
            "model tabular (bijective train --data FILE --model tabular)"
        ) from None


def class_codes(values: np.ndarray, where: str) -> np.ndarray:
    """Class labels 0..K-1 from a column of any values: numbers where they all parse (so
    2 sorts before 10), else strings; the sorted distinct values get 0..K-1."""
    try:
        values = values.astype(np.float64)
    except (ValueError, TypeError):
        values = values.astype(str)
    else:
        if not np.isfinite(values).all():
            raise ValueError(f"{where}: the label column holds NaN or infinite values")
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def features_and_labels(
    column: Callable[[int], np.ndarray],
    names: Sequence[str],
    columns: Sequence[Column] | None,
    label: Column | None,
    where: str,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features (N, D) and labels from a table read column by column."""
    picked, label_index = select(names, columns, label, where)
    x = np.stack([numeric(column(i), names[i], where) for i in picked], 1)
    return x, None if label_index is None else column(label_index)


def read_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    """A CSV file with a header row, as a table of strings and the column names."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file") from None
    if len(rows) < 2:
        raise ValueError(f"{path}: expected a header row and data rows")
    names, body = rows[0], rows[1:]
    bad = next((i for i, r in enumerate(body) if len(r) != len(names)), None)
    if bad is not None:
        raise ValueError(
            f"{path}: row {bad + 2} has {len(body[bad])} fields, the header {len(names)}"
        )
    return np.array(body, dtype=str).reshape(len(body), len(names)), names


def array_columns(
    x: np.ndarray, columns: Sequence[Column] | None, label: Column | None, where: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features and label column of a 2-D array, columns given by index."""
    if columns is None and label is None:
        return x, None
    names = [str(i) for i in range(x.shape[1])]
    return features_and_labels(lambda i: np.asarray(x[:, i]), names, columns, label, where)
