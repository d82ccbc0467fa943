"""Rational-quadratic splines: identity start, knots, tails, extreme parameters, float32."""

from __future__ import annotations

import pytest
import torch

import bijective as bj

B = 3.0
SPLINE = bj.transforms.SplineTransformer(bins=8, bound=B)
EPS32 = torch.finfo(torch.float32).eps


def _params(
    n: int, scale: float, seed: int = 0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, 1, SPLINE.params, generator=g, dtype=torch.float64)).to(dtype)


def test_zero_parameters_give_the_identity() -> None:
    x = torch.linspace(-5, 5, 101)[:, None]
    y, logd = SPLINE.forward(x, torch.zeros(101, 1, SPLINE.params))
    torch.testing.assert_close(y, x)
    torch.testing.assert_close(logd, torch.zeros_like(x), atol=1e-6, rtol=0)


def test_tails_are_the_identity_and_knots_map_to_knots() -> None:
    p = _params(1, 2.0, dtype=torch.float64)
    xs, ys, d, _, _ = SPLINE.tables(p)
    assert xs[0, 0, 0] == -B and xs[0, 0, -1] == B and ys[0, 0, 0] == -B and ys[0, 0, -1] == B
    assert d[0, 0, 0] == 1 and d[0, 0, -1] == 1
    tails = torch.tensor([-7.0, -3.5, 3.5, 9.0], dtype=torch.float64)[:, None]
    y, logd = SPLINE.forward(tails, p.expand(4, 1, -1))
    assert torch.equal(y, tails) and torch.equal(logd, torch.zeros_like(tails))
    knots = xs[0, 0][:, None]
    y, _ = SPLINE.forward(knots, p.expand(len(knots), 1, -1))
    torch.testing.assert_close(y[:, 0], ys[0, 0], atol=1e-12, rtol=0)
    x, _ = SPLINE.inverse(ys[0, 0][:, None], p.expand(len(knots), 1, -1))
    torch.testing.assert_close(x[:, 0], xs[0, 0], atol=1e-12, rtol=0)


@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0, 10.0, 1000.0])
def test_no_nan_anywhere_even_at_extreme_parameters(scale: float) -> None:
    n = 4001
    x = torch.cat([torch.linspace(-2 * B, 2 * B, n - 2), torch.tensor([-B, B])])[:, None]
    p = _params(n, scale)
    y, logd = SPLINE.forward(x, p)
    x2, logd2 = SPLINE.inverse(y, p)
    for value in (y, logd, x2, logd2):
        assert torch.isfinite(value).all()


def test_float32_inverse_error_below_1e5_across_the_range() -> None:
    """Typical trained parameters: < 1e-5 everywhere in [-2B, 2B], tails included."""
    n = 20_001
    x = torch.linspace(-2 * B, 2 * B, n)[:, None]
    p = _params(n, 0.3)
    y, logd = SPLINE.forward(x, p)
    x2, logd2 = SPLINE.inverse(y, p)
    assert (x2 - x).abs().max() < 1e-5
    assert (logd + logd2).abs().max() < 1e-4


@pytest.mark.parametrize("scale", [1.0, 3.0, 10.0, 1000.0])
def test_float32_inverse_is_as_accurate_as_the_slope_allows(scale: float) -> None:
    """At extreme parameters the slope falls to ~1e-7 and float32 y cannot tell nearby x
    apart; the inverse error stays within a small multiple of float32 rounding divided by
    the slope (knot values of size B enter y's rounding), at every point."""
    n = 20_001
    x = torch.linspace(-2 * B, 2 * B, n)[:, None]
    p = _params(n, scale, seed=1)
    y, logd = SPLINE.forward(x, p)
    x2, _ = SPLINE.inverse(y, p)
    bound = 64 * EPS32 * (1 + x.abs() + (B + y.abs()) / logd.exp())
    assert ((x2 - x).abs() <= bound).all()


def test_float64_round_trip_at_extreme_parameters() -> None:
    n = 20_001
    x = torch.linspace(-2 * B, 2 * B, n, dtype=torch.float64)[:, None]
    p = _params(n, 10.0, dtype=torch.float64)
    y, logd = SPLINE.forward(x, p)
    x2, _ = SPLINE.inverse(y, p)
    eps = torch.finfo(torch.float64).eps
    assert ((x2 - x).abs() <= 64 * eps * (1 + x.abs() + (B + y.abs()) / logd.exp())).all()


def test_spline_rejects_impossible_settings() -> None:
    with pytest.raises(ValueError, match="bins >= 1 and bound > 0"):
        bj.transforms.SplineTransformer(bins=0)
    with pytest.raises(ValueError, match="min_bin_width"):
        bj.transforms.SplineTransformer(bins=8, min_bin_width=0.2)


@pytest.mark.parametrize("bins", [1, 2, 8])
def test_hand_derived_backward_matches_finite_differences(bins: int) -> None:
    """The forward pass is one autograd node (spline_forward.py); gradcheck compares its
    backward, for y and log dy/dx, in x and in every raw parameter, with central
    differences in float64: points in every bin and in both tails, parameters random."""
    spline = bj.transforms.SplineTransformer(bins=bins, bound=B)
    g = torch.Generator().manual_seed(bins)
    x = torch.cat([torch.linspace(-2.9, 2.9, 29), torch.tensor([-4.0, 5.0, 3.5])])
    x = torch.stack([x, x.flip(0)], -1).double().requires_grad_()
    p = torch.randn(*x.shape, spline.params, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(spline.forward, (x, p))
    # Each input alone (the other a constant) takes the same path.
    assert torch.autograd.gradcheck(lambda v: spline.forward(v, p.detach()), (x,))
    assert torch.autograd.gradcheck(lambda q: spline.forward(x.detach(), q), (p,))


def test_backward_broadcasts_shared_parameters_and_refuses_a_second_derivative() -> None:
    """Parameters (3K - 1) shared by a batch get the summed gradient of the batch."""
    p = _params(1, 1.0, dtype=torch.float64)[0, 0].requires_grad_()
    x = torch.linspace(-2, 2, 7, dtype=torch.float64)[:, None]
    y, logd = SPLINE.forward(x, p)
    (y.sum() + logd.sum()).backward()
    expected = torch.zeros_like(p)
    for row in x:
        q = p.detach().clone().requires_grad_()
        yr, lr = SPLINE.forward(row, q.expand(1, -1))
        (yr.sum() + lr.sum()).backward()
        expected += q.grad
    torch.testing.assert_close(p.grad, expected)
    x = x.clone().requires_grad_()
    with pytest.raises(RuntimeError, match="second derivative"):
        torch.autograd.grad(SPLINE.forward(x, p)[1].sum(), x, create_graph=True)
