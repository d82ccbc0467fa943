"""Toy 2-D data sets, seeded and reproducible."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def moons(n: int, noise: float = 0.05, seed: int = 0) -> Tensor:
    """Two interleaving half circles, as sklearn.datasets.make_moons: n points (N, 2), the
    outer moon on evenly spaced angles in [0, pi], plus N(0, noise^2) noise, shuffled."""
    g = torch.Generator().manual_seed(seed)
    n_outer = n // 2
    outer = torch.linspace(0, math.pi, n_outer, dtype=torch.float64)
    inner = torch.linspace(0, math.pi, n - n_outer, dtype=torch.float64)
    points = torch.cat(
        [
            torch.stack([outer.cos(), outer.sin()], -1),
            torch.stack([1 - inner.cos(), 0.5 - inner.sin()], -1),
        ]
    )
    points = points + noise * torch.randn(points.shape, generator=g, dtype=torch.float64)
    return points[torch.randperm(n, generator=g)].to(torch.get_default_dtype())
