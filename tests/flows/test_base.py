"""Flow: exact log_prob, sampling, encode/decode, and the torch.distributions view."""

from __future__ import annotations

import pytest
import torch
from registry import randomise
from torch import distributions as td

import bijective as bj
from bijective.transforms import masks

T = bj.transforms


def _flow(context: int = 0) -> bj.Flow:
    torch.manual_seed(0)
    m = masks.alternating(3)
    transform = T.Compose(
        T.AffineCoupling(3, m, context=context),
        T.LULinear(3),
        T.AffineCoupling(3, ~m, context=context),
        T.Planar(3),
    )
    randomise(transform, 0.3)
    return bj.Flow(transform, bj.distributions.DiagonalNormal(3)).double()


def test_log_prob_is_change_of_variables() -> None:
    flow = _flow()
    x = torch.randn(6, 3, dtype=torch.float64)
    z, ladj = flow.transform(x)
    torch.testing.assert_close(flow.log_prob(x), flow.base.log_prob(z) + ladj)
    torch.testing.assert_close(flow(x), flow.log_prob(x))


def test_sample_and_log_prob_agrees_with_log_prob() -> None:
    flow = _flow()
    x, log_p = flow.sample_and_log_prob((50,))
    assert x.shape == (50, 3) and log_p.shape == (50,)
    torch.testing.assert_close(log_p, flow.log_prob(x), atol=1e-9, rtol=1e-9)
    log_p.mean().backward()
    assert all(p.grad is not None for p in flow.parameters())


def test_sample_shapes_and_temperature() -> None:
    flow = _flow()
    assert flow.sample().shape == (3,)
    assert flow.sample((2, 4)).shape == (2, 4, 3)
    assert flow.sample(5).shape == (5, 3)
    assert not flow.sample((2,)).requires_grad
    torch.manual_seed(7)
    x = flow.sample((4,), temperature=0.3)
    torch.manual_seed(7)
    z = flow.base.sample((4,), temperature=0.3)
    torch.testing.assert_close(x, flow.decode(z))
    for bad in (0.0, -1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(
            ValueError, match=f"Flow.rsample: temperature must be a finite number > 0; got {bad!r}"
        ):
            flow.sample((3,), temperature=bad)
    for bad in (-1, (2, -3), 2.5):
        with pytest.raises(ValueError, match="expected a sample shape of integers >= 0"):
            flow.sample(bad)


def test_encode_decode_round_trip() -> None:
    flow = _flow()
    x = torch.randn(8, 3, dtype=torch.float64)
    torch.testing.assert_close(flow.decode(flow.encode(x)), x)


def test_conditional_sampling_shape_follows_the_context() -> None:
    flow = _flow(context=2)
    context = torch.randn(4, 2, dtype=torch.float64)
    x = flow.sample((5,), context=context)
    assert x.shape == (5, 4, 3)
    assert flow.log_prob(x, context).shape == (5, 4)
    x, log_p = flow.sample_and_log_prob((5,), context=context)
    torch.testing.assert_close(log_p, flow.log_prob(x, context), atol=1e-9, rtol=1e-9)


def test_as_distribution_is_a_torch_distribution_that_agrees() -> None:
    flow = _flow(context=2)
    context = torch.randn(4, 2, dtype=torch.float64)
    d = flow.as_distribution(context)
    assert isinstance(d, td.Distribution) and d.has_rsample
    assert d.batch_shape == (4,) and d.event_shape == (3,)
    x = d.sample((6,))
    assert x.shape == (6, 4, 3) and not x.requires_grad
    torch.testing.assert_close(d.log_prob(x), flow.log_prob(x, context))
    y = d.rsample((2,))
    y.sum().backward()
    assert flow.base.loc.grad is not None
    # It plugs into torch code: a Monte-Carlo KL against another distribution.
    other = td.Independent(td.Normal(torch.zeros(3, dtype=torch.float64), 1.0), 1)
    kl = (d.log_prob(x) - other.log_prob(x)).mean()
    assert torch.isfinite(kl)


def test_flow_rejects_mismatched_parts() -> None:
    with pytest.raises(ValueError, match=r"outputs events of shape \(3,\) but the base"):
        bj.Flow(T.Planar(3), bj.distributions.StandardNormal(4))
    with pytest.raises(TypeError, match="Transform"):
        bj.Flow(torch.nn.Linear(2, 2), bj.distributions.StandardNormal(2))
    with pytest.raises(TypeError, match="Distribution as base"):
        bj.Flow(T.Planar(2), td.Normal(0.0, 1.0))


@pytest.mark.parametrize("name", ["MAF", "RealNVP"])
def test_whole_flows_pickle(name: str) -> None:
    """Load hooks are plain functions, so torch.save of a whole flow (not only its state
    dict) keeps working, and the copy computes the same densities."""
    import io

    flow = getattr(bj.flows, name)(4, transforms=2, hidden=(8,))
    buffer = io.BytesIO()
    torch.save(flow, buffer)
    buffer.seek(0)
    copy = torch.load(buffer, weights_only=False)
    x = torch.randn(5, 4)
    torch.testing.assert_close(copy.log_prob(x), flow.log_prob(x))
