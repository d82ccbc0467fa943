"""Data sets as fixed train/validation/test splits: the 2-D toy sets, images (digits,
MNIST, Fashion-MNIST), character-level text (fortunes), numeric tabular data (the MAF
paper's sets, sklearn's) and tables of mixed columns (`tables`, `schema`), with the
preprocessing fitted on train (standardisation, uniform dequantization, binarisation)."""

from ..optional import MissingDependency
from . import schema, tables, text
from .dataset import Dataset, Split, binarise, dequantize, split, standardise
from .images import digits, fashion_mnist, idx_images, mnist, read_idx
from .registry import DATASETS, load
from .tabular import bsds300, gas, hepmass, miniboone, power, sklearn_table
from .text import fortunes
from .toy import (
    TOY,
    checkerboard,
    circles,
    eight_gaussians,
    moons,
    pinwheel,
    rings,
    swissroll,
    two_spirals,
)

__all__ = [
    "DATASETS",
    "TOY",
    "Dataset",
    "MissingDependency",
    "Split",
    "binarise",
    "bsds300",
    "checkerboard",
    "circles",
    "dequantize",
    "digits",
    "eight_gaussians",
    "fashion_mnist",
    "fortunes",
    "gas",
    "hepmass",
    "idx_images",
    "load",
    "miniboone",
    "mnist",
    "moons",
    "pinwheel",
    "power",
    "read_idx",
    "rings",
    "schema",
    "sklearn_table",
    "split",
    "standardise",
    "swissroll",
    "tables",
    "text",
    "two_spirals",
]
