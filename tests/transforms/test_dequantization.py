"""Dequantization bounds against the discrete likelihood computed exactly on a tiny case.

The flow p(y) on (0, 1)^D is y -> logit(y) -> a per-pixel affine map -> N(0, I), so each
pixel is independent with CDF F(y) = Phi(a logit(y) + b), and the probability of the
integer x is exactly P(x) = prod_d F((x_d + 1) / L) - F(x_d / L).
"""

from __future__ import annotations

import math

import torch
from registry import randomise

import bijective as bj
from bijective.transforms import dequantization as dq

SHAPE, LEVELS = (1, 2, 2), 4


def tiny_flow() -> tuple[bj.Flow, torch.Tensor, torch.Tensor]:
    affine = bj.transforms.Affine(SHAPE)
    with torch.no_grad():
        affine.log_scale.copy_(torch.tensor([0.3, -0.4, 0.1, 0.6]).view(SHAPE))
        affine.shift.copy_(torch.tensor([0.5, -0.2, 1.0, 0.0]).view(SHAPE))
    transform = bj.transforms.Compose(bj.transforms.Logit(SHAPE), affine)
    flow = bj.Flow(transform, bj.distributions.StandardNormal(SHAPE)).double()
    return flow, affine.log_scale.detach().double(), affine.shift.detach().double()


def exact_log_p(x: torch.Tensor, log_scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    normal = torch.distributions.Normal(0.0, 1.0)

    def cdf(y: torch.Tensor) -> torch.Tensor:
        z = torch.logit(y.clamp(1e-300, 1)) * log_scale.exp() + shift
        return normal.cdf(z)

    mass = cdf((x + 1) / LEVELS) - cdf(x / LEVELS)
    return mass.log().flatten(-3).sum(-1)


def data() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, LEVELS, (6, *SHAPE), generator=g).double()


def assert_importance_weights_estimate(log_w: torch.Tensor, exact: torch.Tensor) -> None:
    """The weights w = P-hat from K one-draw log-weights average to P(x): log mean w is
    within five relative standard errors of log P(x) (the delta method)."""
    k = log_w.shape[0]
    estimate = torch.logsumexp(log_w, 0) - math.log(k)
    relative_error = (log_w - estimate).exp().std(0) / math.sqrt(k)
    assert ((estimate - exact).abs() < 5 * relative_error + 1e-3).all(), (
        estimate - exact,
        relative_error,
    )


def test_uniform_bound_is_below_the_exact_log_likelihood() -> None:
    """The uniform bound E_u[log p(y)] - D log L, computed by quadrature (pixels are
    independent here, so it is a sum of 1-D integrals), is below log P(x); the model's
    one-draw estimates average to it, and importance weighting closes most of the gap."""
    torch.manual_seed(0)
    flow, log_scale, shift = tiny_flow()
    model = bj.flows.DequantizedFlow(flow, dq.UniformDequantization(LEVELS), LEVELS)
    x = data()
    exact = exact_log_p(x, log_scale, shift)
    u = (torch.arange(100_000, dtype=torch.float64) + 0.5) / 100_000
    with torch.no_grad():
        y = (x[..., None] + u) / LEVELS  # (N, 1, 2, 2, U)
        per_pixel = flow.log_prob(y.movedim(-1, 0)).mean(0)  # E_u[log p(y)]
        bound = per_pixel - 4 * math.log(LEVELS)
        draws = torch.stack([model.log_prob(x) for _ in range(20_000)])
        mean, spread = draws.mean(0), draws.std(0) / math.sqrt(20_000)
        iw = model.log_prob(x, samples=5000)
    assert (bound < exact - 1e-3).all()
    assert ((mean - bound).abs() < 4 * spread).all()
    assert (iw > bound).all()
    assert_importance_weights_estimate(draws, exact)


def test_variational_bound_is_below_the_exact_log_likelihood() -> None:
    torch.manual_seed(0)
    flow, log_scale, shift = tiny_flow()
    dequantizer = dq.VariationalDequantization(SHAPE, LEVELS, couplings=2, channels=8).double()
    randomise(dequantizer, 0.1, torch.Generator().manual_seed(1))
    model = bj.flows.DequantizedFlow(flow, dequantizer, LEVELS)
    x = data()
    exact = exact_log_p(x, log_scale, shift)
    with torch.no_grad():
        y, log_q = dequantizer(x)
        assert ((y * LEVELS).floor() == x).all()  # u stays in [0, 1)
        draws = torch.stack([model.log_prob(x) for _ in range(5000)])
        bound, spread = draws.mean(0), draws.std(0) / math.sqrt(5000)
        iw = model.log_prob(x, samples=2000)
    assert (bound + 4 * spread < exact).all()
    # 100 independent 50-draw importance-weighted bounds: their mean lies between the
    # one-draw bound and log P(x) (Burda et al. 2016: E[IWAE_K] rises with K to log P).
    iw_50 = (torch.logsumexp(draws.view(100, 50, -1), 1) - math.log(50)).mean(0)
    iw_spread = (torch.logsumexp(draws.view(100, 50, -1), 1)).std(0) / 10
    assert (iw_50 > bound + 4 * spread).all()
    assert (iw_50 < exact + 4 * iw_spread).all()
    assert (iw > bound).all()


def test_variational_dequantizer_log_q_is_a_density_of_u() -> None:
    """For a 1-pixel image, q(u | x) integrates to 1 over (0, 1): the log-density it
    reports at its own samples matches the change of variables through its transform."""
    torch.manual_seed(0)
    dequantizer = dq.VariationalDequantization((1, 2, 2), LEVELS, couplings=2, channels=8).double()
    randomise(dequantizer, 0.1, torch.Generator().manual_seed(2))
    x = data()[:2]
    with torch.no_grad():
        y, log_q = dequantizer(x)
        u = y * LEVELS - x
        eps, ladj = dequantizer.transform(u, (x / (LEVELS - 1) - 0.5).flatten(-3))
        log_normal = -0.5 * (eps * eps + math.log(2 * math.pi)).flatten(-3).sum(-1)
    torch.testing.assert_close(log_q, log_normal + ladj)
