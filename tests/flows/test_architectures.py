"""The ready-made architectures: exact, conditional, normalised, trainable."""

from __future__ import annotations

import pytest
import torch
from registry import randomise

import bijective as bj

ARCHITECTURES = {
    "maf": lambda d, c: bj.flows.MAF(d, c, transforms=3, hidden=(16, 16)),
    "maf-lu-residual": lambda d, c: bj.flows.MAF(
        d, c, transforms=2, hidden=(16, 16), residual=True, mixing="lu"
    ),
    "iaf": lambda d, c: bj.flows.IAF(d, c, transforms=3, hidden=(16,), mixing="random"),
    "nsf-autoregressive": lambda d, c: bj.flows.NSF(d, c, transforms=2, bins=4, hidden=(16, 16)),
    "nsf-coupling": lambda d, c: bj.flows.NSF(
        d, c, transforms=3, bins=4, hidden=(16,), variant="coupling"
    ),
    "realnvp": lambda d, c: bj.flows.RealNVP(d, c, transforms=4, hidden=(16,)),
    "nice": lambda d, c: bj.flows.NICE(d, c, transforms=4, hidden=(16,)),
    "planar": lambda d, c: bj.flows.PlanarFlow(d, c, layers=4),
    "radial": lambda d, c: bj.flows.RadialFlow(d, c, layers=4),
}
UNCONDITIONAL = {"planar", "radial"}  # Rezende & Mohamed's maps have no context input


def _randomised(name: str, features: int, context: int, scale: float = 0.2) -> bj.Flow:
    torch.manual_seed(0)
    flow = ARCHITECTURES[name](features, context).double()
    x = torch.randn(64, features, dtype=torch.float64)
    c = torch.randn(64, context, dtype=torch.float64) if context else None
    flow.log_prob(x, c)  # ActNorm's data-dependent initialisation
    return randomise(flow, scale).eval()


@pytest.mark.parametrize("context", [0, 2])
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_exact_in_both_directions(name: str, context: int) -> None:
    if context and name in UNCONDITIONAL:
        with pytest.raises(ValueError, match="has no conditional form"):
            ARCHITECTURES[name](5, context)
        return
    flow = _randomised(name, 5, context)
    c = torch.randn(6, context, dtype=torch.float64) if context else None
    x = torch.randn(6, 5, dtype=torch.float64)
    bj.check(flow.transform, x, c)
    samples, log_p = flow.sample_and_log_prob((3,), c)
    assert samples.shape == ((3, 6, 5) if context else (3, 5))
    torch.testing.assert_close(log_p, flow.log_prob(samples, c), atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_density_integrates_to_one_in_2d(name: str) -> None:
    flow = _randomised(name, 2, 0, scale=0.1)
    grid = torch.linspace(-15, 15, 1000, dtype=torch.float64)
    with torch.no_grad():
        density = flow.log_prob(torch.cartesian_prod(grid, grid)).exp().reshape(1000, 1000)
    total = float(torch.trapezoid(torch.trapezoid(density, grid, dim=1), grid))
    assert abs(total - 1) < 1e-3, total


@pytest.mark.parametrize("name", sorted(set(ARCHITECTURES) - UNCONDITIONAL))
def test_a_short_fit_to_two_moons_beats_the_best_gaussian(name: str) -> None:
    """60 Adam steps already capture structure no Gaussian has: the test NLL falls below
    that of the maximum-likelihood full-covariance Gaussian of the same data."""
    torch.manual_seed(0)
    data, _ = bj.data.moons(2048, seed=0)
    data = (data - data.mean(0)) / data.std(0)
    flow = ARCHITECTURES[name](2, 0)
    optimizer = torch.optim.Adam(flow.parameters(), lr=3e-3)
    gaussian = torch.distributions.MultivariateNormal(data.mean(0), torch.cov(data.T, correction=0))
    gaussian_nll = -gaussian.log_prob(data).mean().item()
    for _ in range(60):
        loss = -flow.log_prob(data[torch.randint(2048, (256,))]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = -flow.log_prob(data).mean().item()
    assert after < gaussian_nll, (after, gaussian_nll)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_a_short_reverse_kl_fit_to_the_banana_beats_its_start(name: str) -> None:
    """150 Adam steps on E_q[log q - log p~] lower the exact KL(q || p) by at least a third
    from the start (the base N(0, I) and random layers), for every architecture."""
    torch.manual_seed(0)
    target = bj.targets.Banana()
    flow = ARCHITECTURES[name](2, 0)
    before = bj.objectives.kl_divergence(flow, target, n=20_000)[0]
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-2)
    for _ in range(150):
        loss = bj.objectives.reverse_kl(flow, target, 256)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = bj.objectives.kl_divergence(flow, target, n=20_000)[0]
    assert after < 2 / 3 * before, (before, after)


def test_issue_example_and_parameter_counts() -> None:
    flow = bj.flows.MAF(features=8, context=0, transforms=5, hidden=(128, 128))
    made = 8 * 128 + 128 + 128 * 128 + 128 + 128 * 16 + 16  # 2 params per feature
    assert sum(p.numel() for p in flow.parameters()) == 5 * made
    assert flow.sample((3,)).shape == (3, 8)


def test_bad_architecture_options() -> None:
    with pytest.raises(ValueError, match="variant 'autoregressive' or 'coupling'"):
        bj.flows.NSF(4, variant="spline")
    with pytest.raises(ValueError, match="mixing 'reverse', 'random' or 'lu'"):
        bj.flows.MAF(4, mixing="shuffle")


@pytest.mark.parametrize("name", sorted(set(ARCHITECTURES) - UNCONDITIONAL))
def test_dropout_is_random_in_train_mode_and_exact_in_eval_mode(name: str) -> None:
    torch.manual_seed(0)
    build = {
        "maf": lambda: bj.flows.MAF(3, hidden=(16, 16), dropout=0.5),
        "maf-lu-residual": lambda: bj.flows.MAF(
            3, hidden=(16, 16), residual=True, mixing="lu", dropout=0.5
        ),
        "iaf": lambda: bj.flows.IAF(3, hidden=(16,), dropout=0.5),
        "nsf-autoregressive": lambda: bj.flows.NSF(
            3, transforms=2, bins=4, hidden=(16, 16), dropout=0.5
        ),
        "nsf-coupling": lambda: bj.flows.NSF(
            3, transforms=2, bins=4, hidden=(16,), variant="coupling", dropout=0.5
        ),
        "realnvp": lambda: bj.flows.RealNVP(3, transforms=2, hidden=(16,), dropout=0.5),
        "nice": lambda: bj.flows.NICE(3, transforms=2, hidden=(16,), dropout=0.5),
    }[name]
    flow = build().double()
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in flow.modules())
    x = torch.randn(64, 3, dtype=torch.float64)
    flow.log_prob(x)  # data-dependent initialisation
    randomise(flow, 0.3)
    assert not torch.equal(flow.log_prob(x), flow.log_prob(x))  # train mode: random masks
    flow.eval()
    torch.testing.assert_close(flow.log_prob(x), flow.log_prob(x), atol=0, rtol=0)
    bj.check(flow.transform, x[:5])
