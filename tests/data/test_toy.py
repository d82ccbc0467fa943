"""Toy data sets."""

from __future__ import annotations

import torch

import bijective as bj


def test_moons_is_reproducible_and_lies_on_the_two_half_circles() -> None:
    a, b = bj.data.moons(1000, noise=0.0, seed=3), bj.data.moons(1000, noise=0.0, seed=3)
    assert a.shape == (1000, 2) and torch.equal(a, b)
    assert not torch.equal(a, bj.data.moons(1000, noise=0.0, seed=4))
    outer = (a.norm(dim=-1) - 1).abs() < 1e-5
    inner = ((a - torch.tensor([1.0, 0.5])).norm(dim=-1) - 1).abs() < 1e-5
    assert int(outer.sum()) == 500 and int(inner.sum()) == 500
    assert (a[outer, 1] >= -1e-6).all() and (a[inner, 1] <= 0.5 + 1e-6).all()


def test_moons_noise_has_the_requested_scale() -> None:
    clean, noisy = (
        bj.data.moons(20_000, noise=0.0, seed=1),
        bj.data.moons(20_000, noise=0.1, seed=1),
    )
    # Same angles, same shuffle: the difference is the added noise.
    residual = noisy - clean
    assert abs(float(residual.std()) - 0.1) < 0.005
