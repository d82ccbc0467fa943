"""A data set as fixed train/validation/test splits, and the preprocessing fitted on train."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor


@dataclass(frozen=True)
class Split:
    """x (N, D) and, for labelled data, labels int64 (N,)."""

    x: Tensor
    labels: Tensor | None = None

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits of one data set.

    levels: for discrete data (pixels), the number of integer values, x in {0..levels-1};
        None for continuous data.
    classes: the number of label values (0 when unlabelled).
    image_shape: (C, H, W) that one row reshapes to, for image data.
    vocabulary: for text, the characters the codes 0..levels-1 stand for.
    schema: for a table of mixed columns, its bijective.data.schema.Schema: rows are
        encoded by it (category codes, counts, numbers; NaN where missing).
    shift, scale: the standardisation x -> (x - shift) / scale already applied to every
        split (fitted on train); log p(original) = log p(standardised) - sum(log scale).
    """

    name: str
    train: Split
    val: Split
    test: Split
    levels: int | None = None
    classes: int = 0
    image_shape: tuple[int, ...] | None = None
    shift: Tensor | None = None
    scale: Tensor | None = None
    vocabulary: str | None = None
    schema: Any = None

    @property
    def features(self) -> int:
        train = self.train
        return train.x.shape[-1] if isinstance(train, Split) else train.features

    @property
    def standardisation_log_det(self) -> float:
        """sum(log scale): subtract it from a log-likelihood of the standardised data to
        get the log-likelihood in the data's original units (0 when not standardised)."""
        return 0.0 if self.scale is None else float(self.scale.log().sum())


def split(
    x: Tensor,
    labels: Tensor | None,
    seed: int,
    val_fraction: float,
    test_fraction: float | None = None,
    test: tuple[Tensor, Tensor | None] | None = None,
) -> tuple[Split, Split, Split]:
    """Seeded random splits: the test part is `test` when the data set fixes one, else a
    `test_fraction` of x; the validation part is a `val_fraction` of what remains."""
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if fraction is not None and not 0 < fraction < 1:
            raise ValueError(f"split: {name} must lie in (0, 1); got {fraction}")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=g)
    x, labels = x[order], None if labels is None else labels[order]
    if test is None:
        if test_fraction is None:
            raise ValueError("split: give test_fraction or a fixed test split")
        n_test = round(test_fraction * len(x))
        test = (x[:n_test], None if labels is None else labels[:n_test])
        x, labels = x[n_test:], None if labels is None else labels[n_test:]
    n_val = round(val_fraction * len(x))
    if not 0 < n_val < len(x):
        raise ValueError(
            f"split: val_fraction {val_fraction} leaves {n_val} of {len(x)} rows for validation"
        )
    part = (lambda a, b: None) if labels is None else (lambda a, b: labels[a:b])
    return (
        Split(x[n_val:], part(n_val, None)),
        Split(x[:n_val], part(0, n_val)),
        Split(*test),
    )


def standardise(data: Dataset) -> Dataset:
    """Every split mapped by x -> (x - mean) / std with the train split's statistics
    (a constant feature keeps std 1)."""
    mean, std = data.train.x.mean(0), data.train.x.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    scaled = [replace(s, x=(s.x - mean) / std) for s in (data.train, data.val, data.test)]
    return replace(data, train=scaled[0], val=scaled[1], test=scaled[2], shift=mean, scale=std)


def dequantize(x: Tensor, levels: int, generator: torch.Generator | None = None) -> Tensor:
    """Uniform dequantization of integers in {0..levels-1}: y = (x + u) / levels in
    [0, 1)^D with u ~ U[0, 1)^D (Uria et al. 2013; Theis et al. 2016)."""
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return (x + u) / levels


def binarise(x: Tensor, levels: int, generator: torch.Generator | None = None) -> Tensor:
    """Binary images b ~ Bernoulli(x / (levels - 1)) from pixels x in {0..levels-1}: a
    fresh draw per call (dynamic binarisation), or a fixed one from a seeded generator."""
    return torch.bernoulli(x / (levels - 1), generator=generator)
