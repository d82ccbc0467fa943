"""Glow and RealNVP for images: exact, consistent, and shaped as the papers describe."""

from __future__ import annotations

import pytest
import torch
from registry import randomise

import bijective as bj

MODELS = {
    "glow": lambda: bj.flows.Glow((2, 4, 4), scales=2, steps=2, channels=8),
    "glow-plain-standard-additive": lambda: bj.flows.Glow(
        (2, 4, 4), scales=2, steps=1, channels=8, lu=False, prior="standard", coupling="additive"
    ),
    "realnvp": lambda: bj.flows.ImageRealNVP((2, 4, 4), scales=2, channels=8, blocks=1),
    "realnvp-learned": lambda: bj.flows.ImageRealNVP(
        (1, 4, 4), scales=2, channels=8, blocks=1, prior="learned"
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_exact_in_both_directions(name: str) -> None:
    torch.manual_seed(0)
    flow = MODELS[name]().double()
    shape = flow.event_shape
    x = torch.rand(32, *shape, dtype=torch.float64)
    flow.log_prob(x)  # ActNorm's data-dependent initialisation
    randomise(flow, 0.05, torch.Generator().manual_seed(0)).eval()
    report = bj.check(flow.transform, x[:3])
    assert report.inverse_error < 1e-6 and report.logdet_error < 1e-6
    samples, log_p = flow.sample_and_log_prob((4,))
    assert samples.shape == (4, *shape)
    torch.testing.assert_close(log_p, flow.log_prob(samples))
    z = flow.encode(x[:5])
    assert z.shape == (5, x[0].numel())
    torch.testing.assert_close(flow.decode(z), x[:5])


def test_glow_layout() -> None:
    flow = bj.flows.Glow((1, 8, 8), scales=3, steps=2, channels=8)
    stages = flow.transform.scales
    assert [s[0].latent_shape for s in stages] == [(4, 4, 4), (8, 2, 2), (16, 1, 1)]
    kinds = [type(t).__name__ for t in stages[0]]
    assert kinds == ["Squeeze"] + ["ActNorm", "Conv1x1", "ConvCoupling"] * 2
    assert len(flow.transform.priors) == 2
    with pytest.raises(ValueError, match="divisible by 8"):
        bj.flows.Glow((1, 12, 12), scales=3)


def test_realnvp_layout() -> None:
    flow = bj.flows.ImageRealNVP((1, 8, 8), scales=3, channels=8, blocks=1)
    first = [type(t).__name__ for t in flow.transform.scales[0]]
    assert first == ["ActNorm", "ConvCoupling"] * 3 + ["Squeeze"] + ["ActNorm", "ConvCoupling"] * 3
    last = [type(t).__name__ for t in flow.transform.scales[-1]]
    assert last == ["ActNorm", "ConvCoupling"] * 4
    assert len(flow.transform.priors) == 0  # standard normal for the factored-out halves


def test_reversible_glow_trains_like_glow() -> None:
    """Glow(reversible=True) has the same weights (same seed), log-density and gradients."""
    x = torch.rand(8, 1, 4, 4, dtype=torch.float64)
    grads = []
    for reversible in (False, True):
        torch.manual_seed(0)
        flow = bj.flows.Glow((1, 4, 4), scales=2, steps=2, channels=8, reversible=reversible)
        flow = flow.double()
        flow.log_prob(x)
        randomise(flow, 0.05, torch.Generator().manual_seed(0))
        (-flow.log_prob(x).mean()).backward()
        grads.append([p.grad for p in flow.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
