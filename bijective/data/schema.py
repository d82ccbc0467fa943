"""The column schema of a table: what each column is, and the codes a model sees.

Kinds: `categorical` (text, bools, or numbers with at most `max_categories` distinct
values: codes 0..K-1 over the sorted categories), `count` (integers with more distinct
values), `continuous` (other numbers). A count or continuous column may have bounds:
`lower` and/or `upper` (a continuous column whose every value is > 0 gets lower 0, a
count whose every value is >= 0 likewise), or a `period` (an angle in [0, period),
taken modulo it); a continuous column is `heavy_tails` when the excess kurtosis of its
values mapped to the real line exceeds 2. `missing`: the column has missing entries.
`shift`, `scale`: mean and std of the real-line values on the rows the schema was fitted
on (the train split), which a model standardises by. `decimals`: the fewest decimal
places (up to 6) that write every fitted value of a continuous column exactly; decoded
samples are rounded to them, as the data were recorded (the density is of the unrounded
values).

Encoded rows are float64 (N, C), in the schema's column order: a category's code, a
count, a number, NaN where missing. `to_real` is the bijection of a bounded column to
the real line with its log-derivative: log(y - l), log(u - y), logit((y - l) / (u - l)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from .dataset import Dataset, Split, split
from .tables import Table

Kind = Literal["categorical", "count", "continuous"]
OVERRIDABLE = ("kind", "lower", "upper", "period", "heavy_tails", "missing")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: Kind
    categories: tuple[str, ...] = ()
    numeric: bool = False  # categories are numbers (written back as numbers)
    lower: float | None = None
    upper: float | None = None
    period: float | None = None
    heavy_tails: bool = False
    missing: bool = False
    shift: float = 0.0
    scale: float = 1.0
    decimals: int | None = None  # samples are written rounded to these decimal places


@dataclass(frozen=True)
class Schema:
    columns: tuple[ColumnSpec, ...] = field(default_factory=tuple)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def to_dict(self) -> dict[str, Any]:
        """The schema as JSON-ready data (what a saved model records)."""
        return {"columns": [{**asdict(c), "categories": list(c.categories)} for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | Schema) -> Schema:
        if isinstance(data, Schema):
            return data
        specs = []
        for c in data["columns"]:
            specs.append(ColumnSpec(**{**c, "categories": tuple(c.get("categories", ()))}))
        return cls(tuple(specs))

    def encode(self, table: Table, where: str = "table", bounds: bool = True) -> np.ndarray:
        """Rows (N, C) float64 as a model sees them. A category not in the schema, a
        missing entry in a column that had none, a fraction in a count column, and (with
        `bounds`) a value outside a column's bounds are each one error naming the column."""
        absent = [n for n in self.names if n not in table.names]
        if absent:
            raise ValueError(f"{where}: no column {absent[0]!r}; expected {list(self.names)}")
        out = np.empty((len(table), len(self.columns)))
        for j, spec in enumerate(self.columns):
            out[:, j] = _encode_column(spec, table.column(spec.name), where, bounds)
        return out

    def decode(self, rows: np.ndarray) -> Table:
        """Encoded rows back to a Table: categories, integers for counts, None for NaN."""
        columns = []
        for j, spec in enumerate(self.columns):
            values = np.empty(len(rows), dtype=object)
            for i, v in enumerate(rows[:, j]):  # numbers at the precision of rows' dtype
                values[i] = None if math.isnan(v) else _value(spec, float(str(v)))
            columns.append(values)
        return Table(self.names, tuple(columns))


def _value(spec: ColumnSpec, v: float) -> Any:
    if spec.kind == "categorical":
        category = spec.categories[int(v)]
        return _number(category) if spec.numeric else category
    if spec.kind == "count":
        return int(round(v))
    return v if spec.decimals is None else round(v, spec.decimals)


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _canonical(value: float) -> str:
    """A number as a category: 2007.0 -> "2007", 0.5 -> "0.5"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _numbers(values: np.ndarray) -> np.ndarray | None:
    """The present values as float64, or None when any is text that is not a number."""
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return None


def _encode_column(spec: ColumnSpec, values: np.ndarray, where: str, bounds: bool) -> np.ndarray:
    present = np.array([v is not None for v in values], dtype=bool)
    if not present.all() and not spec.missing:
        raise ValueError(
            f"{where}: column {spec.name!r} has missing entries but had none when the schema "
            f"was fitted; declare column_schema.{spec.name}.missing: true, or fill them"
        )
    out = np.full(len(values), np.nan)
    if spec.kind == "categorical":
        index = {c: i for i, c in enumerate(spec.categories)}
        for i in np.flatnonzero(present):
            key = _category(spec, values[i])
            if key not in index:
                raise ValueError(
                    f"{where}: column {spec.name!r} has the category {key!r}, unseen when the "
                    f"schema was fitted (categories: {', '.join(spec.categories[:10])}); map it "
                    "to a known one or fit on data that has it"
                )
            out[i] = index[key]
        return out
    numbers = _numbers(values[present])
    if numbers is None:
        raise ValueError(f"{where}: column {spec.name!r} is numeric but holds text")
    if not np.isfinite(numbers).all():
        raise ValueError(f"{where}: column {spec.name!r} holds an infinite value")
    if spec.kind == "count" and (numbers != np.round(numbers)).any():
        bad = numbers[numbers != np.round(numbers)][0]
        raise ValueError(f"{where}: column {spec.name!r} holds counts (integers); got {bad}")
    if bounds:
        low = spec.lower if spec.lower is not None else -np.inf
        high = spec.upper if spec.upper is not None else np.inf
        outside = (numbers <= low) | (numbers >= high) if spec.kind == "continuous" else None
        if spec.kind == "count":
            outside = (numbers < low) | (numbers > high)
        if outside.any():
            raise ValueError(
                f"{where}: column {spec.name!r} has the value {numbers[outside][0]:g} outside "
                f"its support ({_support(spec)}); the model gives it density 0. Set "
                f"data.column_schema.{spec.name}.lower/upper to bounds that hold (or null for none)"
            )
    out[present] = numbers
    return out


def _support(spec: ColumnSpec) -> str:
    low, high = spec.lower, spec.upper
    closed = spec.kind == "count"
    left = "" if low is None else f"{low:g} {'<=' if closed else '<'} "
    right = "" if high is None else f" {'<=' if closed else '<'} {high:g}"
    return f"{left}value{right}" if left or right else "any value"


def _category(spec: ColumnSpec, value: Any) -> str:
    if spec.numeric:
        number = _numbers(np.array([value], dtype=object))
        return value if number is None else _canonical(number[0])
    return value if isinstance(value, str) else _canonical(value)


def to_real(y: Tensor, lower: float | None, upper: float | None) -> tuple[Tensor, Tensor]:
    """v = b(y) on the real line and log|db/dy|, for y strictly inside (lower, upper):
    log(y - l), log(u - y), logit((y - l) / (u - l)), or y."""
    if lower is not None and upper is not None:
        a, b = y - lower, upper - y
        return a.log() - b.log(), math.log(upper - lower) - a.log() - b.log()
    if lower is not None:
        return (y - lower).log(), -(y - lower).log()
    if upper is not None:
        return (upper - y).log(), -(upper - y).log()
    return y, torch.zeros_like(y)


def from_real(v: Tensor, lower: float | None, upper: float | None) -> Tensor:
    """The inverse of to_real."""
    if lower is not None and upper is not None:
        return lower + (upper - lower) * torch.sigmoid(v)
    if lower is not None:
        return lower + v.exp()
    if upper is not None:
        return upper - v.exp()
    return v


def infer(
    domain: Table,
    fit: Table | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    max_categories: int = 10,
    where: str = "table",
) -> Schema:
    """The schema of `domain`'s columns (kinds, categories, missing entries, bounds from
    all its rows), with shift and scale fitted on `fit` (default: `domain`); `overrides`
    maps a column name to fields among kind, lower, upper, period, heavy_tails and missing
    (true: the column may be missing in rows to come, though none is in `domain`)."""
    if len(domain) == 0 or not domain.names:
        raise ValueError(f"{where}: the table is empty; expected rows and columns")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(domain.names))
    if unknown:
        raise ValueError(
            f"{where}: column_schema for {unknown[0]!r}, which is not a column; columns: "
            f"{', '.join(domain.names)}"
        )
    fit = domain if fit is None else fit
    specs = []
    for name in domain.names:
        wanted = overrides.get(name, {})
        bad = sorted(set(wanted) - set(OVERRIDABLE))
        if bad:
            raise ValueError(
                f"{where}: column_schema.{name}: no field {bad[0]!r}; fields: "
                + ", ".join(OVERRIDABLE)
            )
        kind = wanted.get("kind", "continuous" if "period" in wanted else None)
        spec = _kind(name, domain.column(name), kind, max_categories, where)
        if "period" in wanted:  # an angle: no inferred bound
            spec = replace(spec, lower=None)
        spec = replace(spec, **{k: v for k, v in wanted.items() if k != "kind"})
        specs.append(_fitted(spec, fit.column(name), "heavy_tails" in wanted, where))
    return Schema(tuple(specs))


def _kind(
    name: str, values: np.ndarray, kind: str | None, max_categories: int, where: str
) -> ColumnSpec:
    present = values[np.array([v is not None for v in values], dtype=bool)]
    missing = len(present) < len(values)
    if len(present) == 0:
        raise ValueError(f"{where}: column {name!r} is missing in every row; drop it")
    numbers = _numbers(present)
    if numbers is None and kind not in (None, "categorical"):
        raise ValueError(f"{where}: column {name!r} holds text; it can only be categorical")
    if numbers is None:
        parses = [_numbers(np.array([v], dtype=object)) is not None for v in present]
        if any(parses) and kind is None:
            number, text = present[parses.index(True)], present[parses.index(False)]
            raise ValueError(
                f"{where}: column {name!r} mixes numbers and text (e.g. {number!r} and "
                f"{text!r}); fix the entries, or set data.column_schema.{name}.kind: categorical"
            )
        categories = tuple(sorted({v if isinstance(v, str) else _canonical(v) for v in present}))
        return _categorical(name, categories, False, missing, where)
    distinct = np.unique(numbers)
    integers = bool((distinct == np.round(distinct)).all())
    if kind is None:
        few = len(distinct) <= max_categories and integers
        kind = "categorical" if few else "count" if integers else "continuous"
    if kind == "categorical":
        categories = tuple(_canonical(v) for v in distinct)
        return _categorical(name, categories, True, missing, where)
    if kind == "count" and not integers:
        raise ValueError(f"{where}: column {name!r} is set to count but holds fractions")
    if len(distinct) == 1:
        raise ValueError(_constant(where, name, distinct[0]))
    if kind == "count":
        lower = 0.0 if distinct[0] >= 0 else None
    else:
        lower = 0.0 if distinct[0] > 0 else None
    return ColumnSpec(name, kind, lower=lower, missing=missing)


def _constant(where: str, name: str, value: Any) -> str:
    return (
        f"{where}: column {name!r} has one distinct value ({value}); it carries no "
        "information: drop it (data.columns picks the others)"
    )


def _categorical(
    name: str, categories: tuple[str, ...], numeric: bool, missing: bool, where: str
) -> ColumnSpec:
    if len(categories) == 1 and not missing:
        raise ValueError(_constant(where, name, categories[0]))
    if numeric:
        categories = tuple(sorted(categories, key=float))
    return ColumnSpec(name, "categorical", categories=categories, numeric=numeric, missing=missing)


def _fitted(spec: ColumnSpec, values: np.ndarray, heavy_set: bool, where: str) -> ColumnSpec:
    """shift and scale (and heavy_tails, unless set) from the real-line values of `values`."""
    if spec.kind == "categorical":
        return spec
    if spec.period is not None:
        if spec.period <= 0 or spec.kind != "continuous" or spec.lower or spec.upper:
            raise ValueError(
                f"{where}: column_schema.{spec.name}.period: a positive period of a continuous "
                "column without bounds"
            )
        return replace(spec, heavy_tails=False, shift=0.0, scale=1.0)
    if spec.kind == "count" and (spec.upper is not None or spec.heavy_tails):
        raise ValueError(
            f"{where}: column_schema.{spec.name}: counts take a lower bound only (no upper, "
            "no heavy_tails)"
        )
    if spec.lower is not None and spec.upper is not None and spec.lower >= spec.upper:
        raise ValueError(f"{where}: column_schema.{spec.name}: lower must be below upper")
    present = _numbers(values[np.array([v is not None for v in values], dtype=bool)])
    if present is None or len(present) < 2:
        raise ValueError(f"{where}: column {spec.name!r} has fewer than 2 values to fit on")
    y = torch.as_tensor(present + (0.5 if spec.kind == "count" else 0.0))
    v = to_real(y, spec.lower, spec.upper)[0]
    if not v.isfinite().all():
        raise ValueError(
            f"{where}: column {spec.name!r} has values outside its bounds ({_support(spec)})"
        )
    shift, scale = float(v.mean()), float(v.std())
    scale = scale if scale > 0 else 1.0
    heavy = spec.heavy_tails
    if spec.kind == "continuous" and not heavy_set:
        heavy = float((((v - shift) / scale) ** 4).mean()) - 3 > 2
    decimals = _decimals(present) if spec.kind == "continuous" else None
    return replace(spec, shift=shift, scale=scale, heavy_tails=heavy, decimals=decimals)


def _decimals(values: np.ndarray, most: int = 6) -> int | None:
    """The fewest decimal places that write every value exactly (None past `most`)."""
    for places in range(most + 1):
        if np.allclose(np.round(values, places), values, rtol=0, atol=1e-9 * np.abs(values).max()):
            return places
    return None


def table_dataset(
    name: str,
    table: Table,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Dataset:
    """A Dataset of a table's rows encoded by its schema (bijective.data.schema.infer:
    column kinds, categories, missing entries and bounds from all rows, the shift and
    scale from the train split; `overrides` sets fields by column name), split at
    random by `seed` as bijective.data.split splits."""
    if len(table) == 0:
        raise ValueError(f"table {name!r}: no rows")
    positions = torch.arange(len(table), dtype=torch.float64)[:, None]
    parts = [
        p.x[:, 0].long().numpy() for p in split(positions, None, seed, val_fraction, test_fraction)
    ]
    fitted = infer(table, table.rows(parts[0]), overrides, where=f"table {name!r}")
    encoded = [
        Split(torch.as_tensor(fitted.encode(table.rows(p), f"table {name!r}"), dtype=torch.float32))
        for p in parts
    ]
    return Dataset(name, *encoded, schema=fitted)
