"""A user's own data from a file: a NumPy array (.npy, memory-mapped), arrays in an .npz,
a table (.csv with a header; .parquet with pyarrow), or a directory of PNG images.

Rows become float32 (the library's dtype for data; any integer or float input converts
exactly or rounds to nearest). `columns` picks features by header name or index, `label`
names the column holding the class (its distinct values, sorted, become 0..K-1). Without
fixed splits, a seeded random `test_fraction` is held out, then `val_fraction` of the
rest. Integer arrays of 3 or 4 dimensions (N, H, W) or (N, C, H, W) and PNG directories
are images: integer pixels with `levels` values (256 for 8-bit), which training
dequantizes; a PNG directory whose images sit in subdirectories is labelled by them.
Columns of tables: columns.py; PNG directories: png.py; the file's SHA-256 that a run
records: fingerprint.py; data held in memory written as an .npz: in_memory.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..optional import require
from .columns import Column, array_columns, class_codes, features_and_labels, pick, read_csv
from .dataset import Dataset, Split, split
from .fingerprint import fingerprint
from .png import pixel_levels, read_png_directory
from .schema import table_dataset
from .streaming import split_file
from .tables import Table, read_table

TABLES = (".npy", ".npz", ".csv", ".parquet")
# An .npz with fixed splits holds x_train, x_val, x_test (and labels_* where labelled).
SPLITS = ("train", "val", "test")
_CHUNK = 1 << 16  # rows converted at a time from a memory-mapped file


def _float32(array: np.ndarray, where: str) -> torch.Tensor:
    """Rows as float32, converted in chunks so a memory-mapped file is never held whole
    in its own dtype; one clear error for what is not numbers."""
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{where}: expected numbers; got an array of dtype {array.dtype}")
    out = torch.empty(array.shape, dtype=torch.float32)
    for start in range(0, len(array), _CHUNK):
        chunk = np.asarray(array[start : start + _CHUNK], dtype=np.float32)
        out[start : start + _CHUNK] = torch.from_numpy(chunk)
    return out


def _arrays(path: Path, where: str) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The (x, labels) parts of a NumPy file: one to split, or the three fixed splits.
    An .npy is memory-mapped; an .npz holds x (and labels), or a single array, or
    x_train, x_val, x_test (and labels_train, ...)."""
    try:
        if path.suffix == ".npy":
            return [(np.load(path, mmap_mode="r", allow_pickle=False), None)]
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{where}: not a readable NumPy file ({error})") from None
    if "x_train" in arrays:
        missing = [f"x_{s}" for s in SPLITS if f"x_{s}" not in arrays]
        if missing:
            raise ValueError(f"{where}: fixed splits need x_train, x_val, x_test; no {missing[0]}")
        return [(arrays[f"x_{s}"], arrays.get(f"labels_{s}")) for s in SPLITS]
    if "x" in arrays or len(arrays) == 1:
        return [(arrays.get("x", next(iter(arrays.values()))), arrays.get("labels"))]
    raise ValueError(f"{where}: expected an array x (or a single array); found {list(arrays)}")


def _parts(
    path: Path, columns: Sequence[Column] | None, label: Column | None, where: str
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The file's (x, labels) parts, x (N, D) for vectors or integers (N, C, H, W)."""
    if path.is_dir():
        if columns is not None or label is not None:
            raise ValueError(f"{where}: a PNG directory takes no columns or label")
        return [read_png_directory(path)]
    if path.suffix == ".csv":
        strings, names = read_csv(path)
        return [features_and_labels(lambda i: strings[:, i], names, columns, label, where)]
    if path.suffix == ".parquet":
        parquet = require("pyarrow.parquet", "pyarrow", "reading .parquet files")
        try:
            frame = parquet.read_table(path)
        except Exception as error:  # pyarrow's errors have no common base
            raise ValueError(f"{where}: not a readable Parquet file ({error})") from None
        column = lambda i: frame.column(i).to_numpy(zero_copy_only=False)  # noqa: E731
        return [features_and_labels(column, frame.column_names, columns, label, where)]
    if path.suffix not in (".npy", ".npz"):
        raise ValueError(
            f"{where}: unknown kind of file; expected {', '.join(TABLES)} or a directory of .png"
        )
    parts = []
    for x, labels in _arrays(path, where):
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim == 2:
            x, column_labels = array_columns(x, columns, label, where)
            labels = column_labels if label is not None else labels
        elif columns is not None or label is not None:
            raise ValueError(f"{where}: images (arrays of {x.ndim} dimensions) take no columns")
        elif x.ndim == 3:
            x = x[:, None]
        elif x.ndim > 4:
            raise ValueError(f"{where}: expected (N, D), (N, H, W) or (N, C, H, W); got {x.shape}")
        parts.append((x, labels))
    return parts


def _table(
    path: Path,
    columns: Sequence[Column] | None,
    label: Column | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    column_schema: dict[str, dict[str, Any]] | None,
    where: str,
) -> Dataset:
    if label is not None:
        raise ValueError(f"{where}: a table's label is one of its columns; give no label")
    if path.is_dir() or path.suffix not in (".csv", ".parquet"):
        raise ValueError(f"{where}: a table of mixed columns is read from a .csv or .parquet file")
    table = read_table(path)
    if columns is not None:
        names = [table.names[pick(table.names, c, f"{where}: columns")] for c in columns]
        table = Table(tuple(names), tuple(table.column(n) for n in names))
    return table_dataset(path.stem, table, seed, val_fraction, test_fraction, column_schema)


def read_file(
    path: str,
    columns: tuple[Column, ...] | None = None,
    label: Column | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    sha256: str | None = None,
    column_schema: dict[str, dict[str, Any]] | None = None,
    stream: bool = False,
    workers: int = 0,
    table: bool = False,
) -> Dataset:
    """A Dataset from a file or a PNG directory (see the module docstring); for NumPy
    arrays `columns` and `label` are column indices. With `sha256` (a run records it), the
    data must be those the run was trained on. With `table` (what a model of mixed tables
    asks for), a .csv or .parquet file is a table of mixed columns, encoded by its schema
    (bijective.data.schema; `column_schema` overrides fields of columns by name). With
    `stream`, a .npy or .parquet file is never loaded whole: split by position (the last
    test_fraction test, then val_fraction of the rest validation), standardised by one
    streaming pass, and read in chunks by `workers` DataLoader processes in training
    (bijective.data.streaming)."""
    path = Path(path).expanduser()
    where = f"data file {path}"
    if not path.exists():
        raise FileNotFoundError(f"data.path: {path}: no such file or directory")
    if sha256 is not None and fingerprint(path) != sha256:
        raise ValueError(
            f"{where}: its contents changed since the run recorded them (data.sha256); "
            "restore the file, or start a new run"
        )
    if workers < 0:
        raise ValueError(f"{where}: workers must be >= 0; got {workers}")
    if stream:
        if columns is not None or label is not None or table or column_schema is not None:
            raise ValueError(f"{where}: stream reads whole rows of numbers (no columns, label)")
        splits = split_file(path, val_fraction, test_fraction)
        return Dataset("file", *(replace(s, workers=workers) for s in splits))
    if table:
        return _table(path, columns, label, val_fraction, test_fraction, seed, column_schema, where)
    if column_schema is not None:
        raise ValueError(f"{where}: column_schema is for a table of mixed columns (model tabular)")
    parts = _parts(path, columns, label, where)
    shapes = {x.shape[1:] for x, _ in parts}
    if len(shapes) > 1:
        raise ValueError(f"{where}: the splits' rows differ in shape: {sorted(shapes)}")
    if any(len(x) == 0 for x, _ in parts):
        raise ValueError(f"{where}: no rows")
    has_labels = [labels is not None for _, labels in parts]
    if any(has_labels) and not all(has_labels):
        raise ValueError(f"{where}: labels for some splits but not all")
    codes = None
    if all(has_labels):
        lengths = [len(labels) for _, labels in parts]
        if lengths != [len(x) for x, _ in parts]:
            raise ValueError(f"{where}: {lengths} labels for {[len(x) for x, _ in parts]} rows")
        codes = torch.from_numpy(class_codes(np.concatenate([lab for _, lab in parts]), where))
    images = parts[0][0].ndim == 4
    levels, image_shape = None, None
    if images:
        image_shape = tuple(parts[0][0].shape[1:])
        levels = pixel_levels([x for x, _ in parts], where)
    xs = [_float32(x.reshape(len(x), -1), where) for x, _ in parts]
    labels = [None] * len(xs) if codes is None else list(codes.split([len(x) for x in xs]))
    if len(xs) == 1:
        splits = split(xs[0], labels[0], seed, val_fraction, test_fraction)
    else:
        splits = tuple(Split(x, lab) for x, lab in zip(xs, labels, strict=True))
    classes = 0 if codes is None else int(codes.max()) + 1
    return Dataset("file", *splits, levels=levels, classes=classes, image_shape=image_shape)
