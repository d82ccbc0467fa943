"""Tabular data: the MAF paper's five sets (Papamakarios et al. 2017) read from a
user-supplied directory with that paper's preprocessing, and sklearn's bundled sets.

The MAF sets are read from the layout of the paper's data archive under `root`:
power/data.npy, gas/ethylene_CO.txt (the UCI text file; the archive's pickle is not read,
since loading never unpickles), hepmass/1000_{train,test}.csv, miniboone/data.npy and
BSDS300/BSDS300.hdf5. Their splits follow the paper (the last 10% for test, then the last
10% of the rest for validation, after its seeded shuffle where it had one). Standardising
is left to `standardise` (fitted on train), where the paper used train + validation.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..optional import require
from .dataset import Dataset, Split, split


def _file(root: str | Path, relative: str) -> Path:
    path = Path(root) / relative
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; give data_dir (--data-dir) as the directory that holds "
            f"{relative} (the MAF paper's data layout)"
        )
    return path


def _tail_splits(name: str, data: np.ndarray, test: np.ndarray | None = None) -> Dataset:
    """The paper's splits: the last 10% as test (unless given), then the last 10% of the
    rest as validation."""
    if test is None:
        n_test = int(0.1 * len(data))
        data, test = data[:-n_test], data[-n_test:]
    n_val = int(0.1 * len(data))
    parts = (data[:-n_val], data[-n_val:], test)
    as_split = [Split(torch.as_tensor(np.ascontiguousarray(p), dtype=torch.float32)) for p in parts]
    return Dataset(name, *as_split)


def power(root: str | Path) -> Dataset:
    """POWER (6 dims): household electric power (8 columns in the archive); shuffled
    (seed 42), columns 3 and 1 dropped, and uniform noise added to break ties: U(0, 0.001),
    U(0, 0.01), U(0, 1) on the three sub-meterings, none on the time column."""
    rng = np.random.RandomState(42)
    data = np.load(_file(root, "power/data.npy"))
    rng.shuffle(data)
    data = np.delete(np.delete(data, 3, axis=1), 1, axis=1)
    n = len(data)
    noise = np.hstack(
        [0.001 * rng.rand(n, 1), 0.01 * rng.rand(n, 1), rng.rand(n, 3), np.zeros((n, 1))]
    )
    return _tail_splits("power", data + noise)


def gas(root: str | Path) -> Dataset:
    """GAS (8 dims): the 16 sensor readings of the ethylene-CO mixture (time and the two
    concentrations dropped), then, while any column has a correlation above 0.98 with
    another, the first such column removed."""
    data = np.loadtxt(_file(root, "gas/ethylene_CO.txt"), skiprows=1)[:, 3:]
    while True:
        correlated = (np.corrcoef(data, rowvar=False) > 0.98).sum(1) > 1
        if not correlated.any():
            break
        data = np.delete(data, np.flatnonzero(correlated)[0], axis=1)
    return _tail_splits("gas", data)


def hepmass(root: str | Path) -> Dataset:
    """HEPMASS (21 dims): signal events (label 1) of the "1000" files, label column
    dropped (and the test file's extra last column), and, as in the paper, the features
    whose smallest value occurs more than 5 times (on the train-standardised data) removed."""
    train = np.loadtxt(_file(root, "hepmass/1000_train.csv"), delimiter=",", skiprows=1)
    test = np.loadtxt(_file(root, "hepmass/1000_test.csv"), delimiter=",", skiprows=1)
    train, test = train[train[:, 0] == 1, 1:], test[test[:, 0] == 1, 1:-1]
    standard = (train - train.mean(0)) / train.std(0, ddof=1)
    keep = [i for i, column in enumerate(standard.T) if Counter(column)[column.min()] <= 5]
    return _tail_splits("hepmass", train[:, keep], test[:, keep])


def miniboone(root: str | Path) -> Dataset:
    """MINIBOONE (43 dims): particle-identification features, in file order."""
    return _tail_splits("miniboone", np.load(_file(root, "miniboone/data.npy")))


def bsds300(root: str | Path) -> Dataset:
    """BSDS300 (63 dims): 8x8 natural-image patches with the mean removed and the last
    pixel dropped, in the archive's own train/validation/test splits."""
    h5py = require("h5py", "h5py", "BSDS300")
    with h5py.File(_file(root, "BSDS300/BSDS300.hdf5"), "r") as f:
        parts = [
            torch.as_tensor(f[k][:], dtype=torch.float32) for k in ("train", "validation", "test")
        ]
    return Dataset("bsds300", *(Split(p) for p in parts))


def sklearn_table(
    name: str, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2
) -> Dataset:
    """sklearn's bundled `wine` (178 x 13) or `breast-cancer` (569 x 30) features, with
    their classes as labels, split seeded."""
    datasets = require("sklearn.datasets", "scikit-learn", f"the {name} data")
    loader = {"wine": datasets.load_wine, "breast-cancer": datasets.load_breast_cancer}[name]
    bunch = loader()
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    train, val, test = split(
        torch.as_tensor(bunch.data, dtype=torch.float32), labels, seed, val_fraction, test_fraction
    )
    return Dataset(name, train, val, test, classes=int(labels.max()) + 1)
