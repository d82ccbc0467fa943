"""Toy 2-D data sets: reproducible, and shaped as their definitions say."""

from __future__ import annotations

import math

import pytest
import torch

import bijective as bj


@pytest.mark.parametrize("name", sorted(bj.data.TOY))
def test_every_toy_set_is_seeded_shaped_and_labelled_consistently(name: str) -> None:
    generate = bj.data.TOY[name]
    (a, la), (b, lb), (c, _) = (
        generate(1001, seed=3),
        generate(1001, seed=3),
        generate(1001, seed=4),
    )
    assert a.shape == (1001, 2) and a.dtype == torch.get_default_dtype()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.isfinite().all()
    if la is not None:
        assert la.shape == (1001,) and la.dtype == torch.int64 and torch.equal(la, lb)
        assert la.min() == 0 and la.unique().numel() == la.max() + 1


def test_moons_lie_on_the_two_half_circles_scaled_and_shifted() -> None:
    x, labels = bj.data.moons(1000, noise=0.0, seed=3)
    raw = (x - torch.tensor([-1.0, -0.2])) / 2  # back to sklearn's make_moons coordinates
    outer, inner = labels == 0, labels == 1
    assert int(outer.sum()) == 500 and int(inner.sum()) == 500
    assert torch.allclose(raw[outer].norm(dim=-1), torch.ones(500), atol=1e-5)
    assert torch.allclose((raw[inner] - torch.tensor([1.0, 0.5])).norm(dim=-1), torch.ones(500))
    assert (raw[outer, 1] >= -1e-6).all() and (raw[inner, 1] <= 0.5 + 1e-6).all()


def test_moons_noise_has_the_requested_scale() -> None:
    (clean, _), (noisy, _) = bj.data.moons(20_000, noise=0.0, seed=1), bj.data.moons(20_000, seed=1)
    # Same angles, same shuffle: the difference is the noise, 0.1 before the factor 2.
    assert abs(float((noisy - clean).std()) - 0.2) < 0.005


@pytest.mark.parametrize(
    ("name", "radii"), [("circles", (3.0, 1.5)), ("rings", (3, 2.25, 1.5, 0.75))]
)
def test_circles_and_rings_have_their_radii(name: str, radii: tuple[float, ...]) -> None:
    x, labels = bj.data.TOY[name](4000, noise=0.0, seed=0)
    for k, radius in enumerate(radii):
        assert torch.allclose(x[labels == k].norm(dim=-1), torch.tensor(float(radius)), atol=1e-5)


def test_eight_gaussians_modes_sit_on_the_circle_with_std_half_over_1414() -> None:
    x, labels = bj.data.eight_gaussians(80_000, seed=0)
    for k in range(8):
        centre = 4 / 1.414 * torch.tensor([math.cos(k * math.pi / 4), math.sin(k * math.pi / 4)])
        part = x[labels == k]
        assert torch.allclose(part.mean(0), centre, atol=0.03)
        assert torch.allclose(part.std(0), torch.tensor(0.5 / 1.414), atol=0.02)


def test_checkerboard_is_uniform_on_the_dark_squares() -> None:
    x, _ = bj.data.checkerboard(40_000, seed=0)
    assert (x.abs() <= 4).all()
    cell = (x / 2).floor().long() + 2  # 4x4 cells of side 2
    # Dark squares: cell indices of equal parity (x2 is shifted by floor(x1) % 2).
    assert ((cell[:, 0] + cell[:, 1]) % 2 == 0).all()
    counts = torch.bincount(cell[:, 0] * 4 + cell[:, 1], minlength=16)
    assert (counts[counts > 0] - 5000).abs().max() < 400 and (counts > 0).sum() == 8


def test_swissroll_radius_grows_with_the_angle() -> None:
    x, labels = bj.data.swissroll(5000, noise=0.0, seed=0)
    assert labels is None
    radius = x.norm(dim=-1) * 5  # t, from 1.5 pi to 4.5 pi
    assert radius.min() >= 1.5 * math.pi - 1e-4 and radius.max() <= 4.5 * math.pi + 1e-4
