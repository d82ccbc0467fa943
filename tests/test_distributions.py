"""Base distributions against torch.distributions, their samplers and temperature."""

from __future__ import annotations

import math

import pytest
import torch
from registry import randomise
from torch import distributions as td

import bijective as bj

D = bj.distributions


def test_standard_normal_matches_torch() -> None:
    z = torch.randn(7, 3, 2, dtype=torch.float64)
    d = D.StandardNormal((3, 2)).double()
    ref = td.Independent(td.Normal(torch.zeros(3, 2), 1.0), 2).log_prob(z.float()).double()
    torch.testing.assert_close(d.log_prob(z), ref, atol=1e-5, rtol=1e-6)


def test_diagonal_normal_matches_torch() -> None:
    d = randomise(D.DiagonalNormal(4).double(), 0.5)
    z = torch.randn(9, 4, dtype=torch.float64)
    ref = td.Independent(td.Normal(d.loc, d.log_scale.exp()), 1).log_prob(z)
    torch.testing.assert_close(d.log_prob(z), ref)


def test_uniform_matches_torch_inside_and_is_minus_inf_outside() -> None:
    d = D.Uniform(torch.tensor([0.0, -1.0]), torch.tensor([2.0, 3.0]))
    inside = torch.tensor([[1.0, 0.0], [0.1, 2.9]])
    ref = td.Independent(td.Uniform(d.low, d.high), 1).log_prob(inside)
    torch.testing.assert_close(d.log_prob(inside), ref)
    assert d.log_prob(torch.tensor([[2.5, 0.0]])).item() == -math.inf
    assert (d.sample((100,)) >= d.low).all() and (d.sample((100,)) <= d.high).all()
    with pytest.raises(ValueError, match="low < high"):
        D.Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="temperature"):
        d.sample((3,), temperature=0.5)


def test_gaussian_mixture_matches_torch() -> None:
    d = randomise(D.GaussianMixture(3, 2).double(), 0.5)
    ref = td.MixtureSameFamily(
        td.Categorical(logits=d.logits),
        td.Independent(td.Normal(d.means, d.log_scales.exp()), 1),
    )
    z = torch.randn(11, 2, dtype=torch.float64)
    torch.testing.assert_close(d.log_prob(z), ref.log_prob(z))


def test_gaussian_mixture_integrates_to_one() -> None:
    d = randomise(D.GaussianMixture(4, 2, torch.Generator().manual_seed(0)).double(), 0.5)
    grid = torch.linspace(-15, 15, 1200, dtype=torch.float64)
    density = d.log_prob(torch.cartesian_prod(grid, grid)).exp().reshape(1200, 1200)
    total = torch.trapezoid(torch.trapezoid(density, grid, dim=1), grid).detach()
    assert abs(float(total) - 1) < 1e-3


def _mean(d: torch.nn.Module) -> torch.Tensor:
    if isinstance(d, D.GaussianMixture):
        return torch.softmax(d.logits, -1) @ d.means
    return getattr(d, "loc", torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize(
    "build",
    [lambda: D.StandardNormal(3), lambda: D.DiagonalNormal(3), lambda: D.GaussianMixture(2, 3)],
    ids=["standard", "diagonal", "mixture"],
)
def test_sample_shapes_and_sample_mean(build) -> None:
    torch.manual_seed(0)
    d = randomise(build().double(), 0.5)
    assert d.sample().shape == (3,)
    assert d.sample((4, 5)).shape == (4, 5, 3)
    s = d.sample((100_000,))
    assert s.dtype == torch.float64
    # Within 5 standard errors of the analytic mean.
    with torch.no_grad():
        bound = 5 * s.std(0) / 100_000**0.5
        assert ((s.mean(0) - _mean(d)).abs() < bound).all()


def test_temperature_scales_the_standard_deviation() -> None:
    torch.manual_seed(1)
    d = randomise(D.DiagonalNormal(2).double(), 0.5)
    s = d.sample((200_000,), temperature=0.5)
    expected = 0.5 * d.log_scale.exp().detach()
    torch.testing.assert_close(s.std(0), expected, atol=0, rtol=0.01)
    torch.testing.assert_close(s.mean(0), d.loc.detach(), atol=0.01, rtol=0)


def test_rsample_carries_gradients_and_sample_does_not() -> None:
    d = D.DiagonalNormal(2)
    d.rsample((5,)).sum().backward()
    assert d.loc.grad is not None and d.log_scale.grad is not None
    assert not d.sample((5,)).requires_grad
    m = D.GaussianMixture(2, 2)
    m.rsample((50,)).sum().backward()
    assert m.means.grad is not None and m.means.grad.abs().sum() > 0


def test_distributions_follow_dtype() -> None:
    for d in [
        D.StandardNormal(2),
        D.DiagonalNormal(2),
        D.Uniform(0.0, 1.0),
        D.GaussianMixture(2, 2),
    ]:
        assert d.double().sample((3,)).dtype == torch.float64
