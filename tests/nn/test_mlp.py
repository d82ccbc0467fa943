"""The MLP conditioner."""

from __future__ import annotations

import pytest
import torch

import bijective as bj


def test_shapes_and_zero_initialised_last_layer() -> None:
    net = bj.nn.MLP(3, 5, hidden=(8, 8))
    out = net(torch.randn(2, 4, 3))
    assert out.shape == (2, 4, 5)
    assert torch.equal(out, torch.zeros(2, 4, 5))
    assert len([m for m in net.net if isinstance(m, torch.nn.Linear)]) == 3


def test_context_is_concatenated_and_broadcast() -> None:
    net = bj.nn.MLP(2, 1, hidden=(4,), context=3, zero_init=False)
    x, c = torch.randn(5, 2), torch.randn(3)
    first = net.net[0]
    expected = net.net[2](net.net[1](first(torch.cat([x, c.expand(5, 3)], -1))))
    torch.testing.assert_close(net(x, c), expected)
    assert first.in_features == 5


def test_missing_context_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="built with context=3; got no context"):
        bj.nn.MLP(2, 1, context=3)(torch.randn(4, 2))


def test_activation_is_configurable() -> None:
    net = bj.nn.MLP(2, 2, hidden=(4, 4), activation=torch.nn.Tanh)
    assert sum(isinstance(m, torch.nn.Tanh) for m in net.net) == 2
