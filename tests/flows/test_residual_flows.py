"""Planar/radial flows on a chosen base, and the residual and continuous flow assemblers:
sampling inverts log_prob, and the log-density integrates to 1 on a grid."""

from __future__ import annotations

import pytest
import torch

import bijective as bj


@pytest.mark.parametrize("cls", [bj.flows.PlanarFlow, bj.flows.RadialFlow])
def test_a_uniform_base_puts_samples_in_the_support_and_zero_density_outside(cls) -> None:
    torch.manual_seed(0)
    flow = cls(2, layers=3, base="uniform").double()
    x, log_q = flow.sample_and_log_prob((500,))
    assert log_q.isfinite().all()
    with torch.no_grad():
        torch.testing.assert_close(flow.log_prob(x.detach()), log_q.detach())
        # a point whose latent lies outside [-1, 1]^2 has density 0
        far = flow.decode(torch.tensor([[1.5, 0.0]], dtype=torch.float64))
        assert flow.log_prob(far).item() == float("-inf")
    assert (flow.encode(x.detach()).abs() <= 1 + 1e-9).all()


def test_an_unknown_base_is_refused() -> None:
    with pytest.raises(ValueError, match="base 'normal' or 'uniform'"):
        bj.flows.PlanarFlow(2, base="laplace")


@pytest.mark.parametrize(
    "build",
    [
        lambda: bj.flows.ResidualFlow(2, blocks=2, hidden=(16,)),
        lambda: bj.flows.ResidualFlow(2, blocks=2, hidden=(16,), logdet="series", terms=4),
        lambda: bj.flows.FFJORD(2, hidden=(16,), rtol=1e-8, atol=1e-8),
    ],
    ids=["resflow", "iresnet", "ffjord"],
)
def test_assembled_flows_invert_and_integrate_to_one(build) -> None:
    torch.manual_seed(0)
    flow = build().double()
    with torch.no_grad():
        flow.log_prob(torch.randn(64, 2, dtype=torch.float64))  # ActNorm's initialisation
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    flow.eval()
    with torch.no_grad():
        x = flow.sample((50,))
        torch.testing.assert_close(flow.decode(flow.encode(x)), x, atol=1e-6, rtol=1e-6)
        grid = torch.linspace(-7, 7, 281, dtype=torch.float64)
        density = flow.log_prob(torch.cartesian_prod(grid, grid)).exp().reshape(281, 281)
    total = float(torch.trapezoid(torch.trapezoid(density, grid, dim=1), grid))
    assert abs(total - 1) < 2e-3, total


def test_image_residual_flow_inverts_and_its_estimate_centres_on_the_exact_log_det() -> None:
    torch.manual_seed(0)
    flow = bj.flows.ImageResidualFlow((1, 4, 4), scales=2, blocks=1, channels=4).double()
    x = torch.randn(6, 1, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        flow.log_prob(x)  # ActNorm's initialisation
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    flow.eval()
    with torch.no_grad():
        torch.testing.assert_close(flow.decode(flow.encode(x)), x, atol=1e-8, rtol=1e-8)
        estimates = torch.stack([flow.log_prob(x) for _ in range(200)])  # roulette, 20 terms
        for block in flow.modules():
            if isinstance(block, bj.transforms.ConvInvertibleResidual):
                block.eval_logdet = "exact"
        exact = flow.log_prob(x)
    se = estimates.std(0) / 200**0.5
    assert ((estimates.mean(0) - exact).abs() <= 3 * se + 1e-9).all()
