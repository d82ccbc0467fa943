"""A user's own data from a file: a NumPy array (.npy, memory-mapped), arrays in an .npz,
a table (.csv with a header; .parquet with pyarrow), or a directory of PNG images.

Rows become float32 (the library's dtype for data; any integer or float input converts
exactly or rounds to nearest). `columns` picks features by header name or index, `label`
names the column holding the class (its distinct values, sorted, become 0..K-1). Without
fixed splits, a seeded random `test_fraction` is held out, then `val_fraction` of the
rest. Integer arrays of 3 or 4 dimensions (N, H, W) or (N, C, H, W) and PNG directories
are images: integer pixels with `levels` values (256 for 8-bit), which training
dequantizes; a PNG directory whose images sit in subdirectories is labelled by them.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..optional import require
from .dataset import Dataset, Split, split

Column = str | int
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


def _pick(names: Sequence[str], wanted: Column, where: str) -> int:
    """The index of a column given by name or by (possibly negative) index."""
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        if not -len(names) <= wanted < len(names):
            raise ValueError(f"{where}: column {wanted} out of range for {len(names)} columns")
        return wanted % len(names)
    if wanted not in names:
        raise ValueError(f"{where}: no column {wanted!r}; columns: {', '.join(names)}")
    return list(names).index(wanted)


def _select(
    names: Sequence[str], columns: Sequence[Column] | None, label: Column | None, where: str
) -> tuple[list[int], int | None]:
    """The indices of the feature columns and of the label column."""
    label_index = None if label is None else _pick(names, label, f"{where}: label")
    if columns is None:
        picked = [i for i in range(len(names)) if i != label_index]
    else:
        picked = [_pick(names, c, f"{where}: columns") for c in columns]
        if label_index in picked:
            raise ValueError(f"{where}: the label column {names[label_index]!r} is also a feature")
    if not picked:
        raise ValueError(f"{where}: no feature columns left")
    return picked, label_index


def _numeric(values: np.ndarray, name: str, where: str) -> np.ndarray:
    """A column as numbers (strings parsed), or an error naming it."""
    try:
        return values.astype(np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"{where}: column {name!r} is not numeric") from None


def _classes(values: np.ndarray, where: str) -> np.ndarray:
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


def _table(
    column: Callable[[int], np.ndarray],
    names: Sequence[str],
    columns: Sequence[Column] | None,
    label: Column | None,
    where: str,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features (N, D) and labels from a table read column by column."""
    picked, label_index = _select(names, columns, label, where)
    x = np.stack([_numeric(column(i), names[i], where) for i in picked], 1)
    return x, None if label_index is None else column(label_index)


def _read_csv(path: Path) -> tuple[np.ndarray, list[str]]:
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


def _png_directory(directory: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Every *.png below `directory` as uint8 (N, C, H, W); labelled by subdirectory when
    the images sit in subdirectories (classes in the sorted order of their names)."""
    image = require("PIL.Image", "pillow", "reading PNG images")
    files = sorted(directory.rglob("*.png"))
    if not files:
        raise ValueError(f"{directory}: no .png files in this directory")
    arrays = []
    for file in files:
        try:
            with image.open(file) as picture:
                colour = picture.mode not in ("1", "L", "LA", "I", "I;16")
                arrays.append(np.asarray(picture.convert("RGB" if colour else "L")))
        except OSError as error:
            raise ValueError(f"{file}: not a readable PNG image ({error})") from None
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"{directory}: images of different sizes {sorted(shapes)[:2]}")
    stack = np.stack(arrays)
    stack = stack[:, None] if stack.ndim == 3 else stack.transpose(0, 3, 1, 2)
    parents = [f.parent.relative_to(directory).as_posix() for f in files]
    if all(p == "." for p in parents):
        return stack, None
    if any(p == "." for p in parents):
        raise ValueError(
            f"{directory}: images both at the top and in subdirectories; put every image in "
            "its class's subdirectory, or all at the top (unlabelled)"
        )
    names = sorted(set(parents))
    return stack, np.array([names.index(p) for p in parents])


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


def _columns(
    x: np.ndarray, columns: Sequence[Column] | None, label: Column | None, where: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features and label column of a 2-D array, columns given by index."""
    if columns is None and label is None:
        return x, None
    names = [str(i) for i in range(x.shape[1])]
    return _table(lambda i: np.asarray(x[:, i]), names, columns, label, where)


def _parts(
    path: Path, columns: Sequence[Column] | None, label: Column | None, where: str
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The file's (x, labels) parts, x (N, D) for vectors or integers (N, C, H, W)."""
    if path.is_dir():
        if columns is not None or label is not None:
            raise ValueError(f"{where}: a PNG directory takes no columns or label")
        return [_png_directory(path)]
    if path.suffix == ".csv":
        table, names = _read_csv(path)
        return [_table(lambda i: table[:, i], names, columns, label, where)]
    if path.suffix == ".parquet":
        parquet = require("pyarrow.parquet", "pyarrow", "reading .parquet files")
        try:
            frame = parquet.read_table(path)
        except Exception as error:  # pyarrow's errors have no common base
            raise ValueError(f"{where}: not a readable Parquet file ({error})") from None
        column = lambda i: frame.column(i).to_numpy(zero_copy_only=False)  # noqa: E731
        return [_table(column, frame.column_names, columns, label, where)]
    if path.suffix not in (".npy", ".npz"):
        raise ValueError(
            f"{where}: unknown kind of file; expected {', '.join(TABLES)} or a directory of .png"
        )
    parts = []
    for x, labels in _arrays(path, where):
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim == 2:
            x, column_labels = _columns(x, columns, label, where)
            labels = column_labels if label is not None else labels
        elif columns is not None or label is not None:
            raise ValueError(f"{where}: images (arrays of {x.ndim} dimensions) take no columns")
        elif x.ndim == 3:
            x = x[:, None]
        elif x.ndim > 4:
            raise ValueError(f"{where}: expected (N, D), (N, H, W) or (N, C, H, W); got {x.shape}")
        parts.append((x, labels))
    return parts


def read_file(
    path: str,
    columns: tuple[Column, ...] | None = None,
    label: Column | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    sha256: str | None = None,
) -> Dataset:
    """A Dataset from a file or a PNG directory (see the module docstring); for NumPy
    arrays `columns` and `label` are column indices. With `sha256` (a run records it), the
    data must be those the run was trained on."""
    path = Path(path).expanduser()
    where = f"data file {path}"
    if not path.exists():
        raise FileNotFoundError(f"data.path: {path}: no such file or directory")
    if sha256 is not None and fingerprint(path) != sha256:
        raise ValueError(
            f"{where}: its contents changed since the run recorded them (data.sha256); "
            "restore the file, or start a new run"
        )
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
        codes = torch.from_numpy(_classes(np.concatenate([lab for _, lab in parts]), where))
    images = parts[0][0].ndim == 4
    levels, image_shape = None, None
    if images:
        image_shape, levels = tuple(parts[0][0].shape[1:]), _levels([x for x, _ in parts], where)
    xs = [_float32(x.reshape(len(x), -1), where) for x, _ in parts]
    labels = [None] * len(xs) if codes is None else list(codes.split([len(x) for x in xs]))
    if len(xs) == 1:
        splits = split(xs[0], labels[0], seed, val_fraction, test_fraction)
    else:
        splits = tuple(Split(x, lab) for x, lab in zip(xs, labels, strict=True))
    classes = 0 if codes is None else int(codes.max()) + 1
    return Dataset("file", *splits, levels=levels, classes=classes, image_shape=image_shape)


def _levels(images: list[np.ndarray], where: str) -> int:
    """The pixel levels of integer images: 256 for 8-bit values, else the largest + 1."""
    if any(x.dtype.kind not in "iu" for x in images):
        raise ValueError(
            f"{where}: arrays (N, H, W) or (N, C, H, W) are images and must hold integer "
            f"pixels; got {images[0].dtype} (give a 2-D array (N, D) for vectors)"
        )
    low = min(int(x.min()) for x in images)
    high = max(int(x.max()) for x in images)
    if low < 0:
        raise ValueError(f"{where}: pixels must be >= 0; found {low}")
    return 256 if high < 256 else high + 1


def fingerprint(path: str | Path) -> str:
    """The SHA-256 of a data file, or of a PNG directory's file names and contents: a run
    records it, and reopening the run with other data is an error, not a silent change.
    Computed once per process for files of unchanged size and modification time (a run
    records it and its loader checks it)."""
    path = Path(path).expanduser().resolve()
    files = sorted(path.rglob("*.png")) if path.is_dir() else [path]
    stamps = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _sha256(path, stamps)


@functools.lru_cache(maxsize=64)
def _sha256(path: Path, stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamps:
        file = Path(name)
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode())
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def write_arrays(data: Any, path: Path) -> None:
    """In-memory data as an .npz that `read_file` reads back: an array or tensor (N, ...),
    a pair (x, labels), a bijective Dataset (its fixed splits, as they are), or a torch
    Dataset whose items are x or (x, label)."""
    if isinstance(data, Dataset):
        arrays = {f"x_{s}": getattr(data, s).x.numpy() for s in SPLITS}
        if data.classes:
            arrays |= {f"labels_{s}": getattr(data, s).labels.numpy() for s in SPLITS}
    else:
        x, labels = _in_memory(data)
        arrays = {"x": x} if labels is None else {"x": x, "labels": labels}
    np.savez(path, **arrays)


def _numpy(value: Any, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"data=: expected {what} of numbers; got dtype {array.dtype}")
    return array


def _in_memory(data: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, labels) from an array, a tensor, a pair of them or a torch Dataset."""
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.Tensor):
        items = [data[i] for i in range(len(data))]  # type: ignore[arg-type]
        if not items:
            raise ValueError("data=: the Dataset is empty")
        if isinstance(items[0], tuple | list):
            x = np.stack([_numpy(item[0], "items") for item in items])
            return x, np.array([int(item[1]) for item in items])
        return np.stack([_numpy(item, "items") for item in items]), None
    if isinstance(data, tuple) and len(data) == 2:
        return _numpy(data[0], "x"), _numpy(data[1], "labels")
    if isinstance(data, np.ndarray | torch.Tensor | list):
        return _numpy(data, "an array"), None
    raise TypeError(
        "data=: expected a NumPy array, a tensor, a pair (x, labels), a bijective Dataset or "
        f"a torch Dataset; got {type(data).__name__}"
    )
