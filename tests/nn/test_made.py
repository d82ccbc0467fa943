"""MADE: the autoregressive property, proven on the Jacobian for every option."""

from __future__ import annotations

import pytest
import torch
from registry import randomise

import bijective as bj

OPTIONS = {
    "natural": dict(hidden=(16, 16)),
    "random-order": dict(hidden=(16, 16), order="random"),
    "given-order": dict(hidden=(12,), order=torch.tensor([3, 0, 4, 1, 2])),
    "deep": dict(hidden=(8, 8, 8, 8)),
    "narrow": dict(hidden=(3,)),  # fewer hidden units than features
    "residual": dict(hidden=(16, 16, 16), residual=True),
    "residual-random": dict(hidden=(16, 16), residual=True, order="random"),
    "context": dict(hidden=(16, 16), context=3),
    "context-residual": dict(hidden=(16, 16), context=2, residual=True, order="random"),
    "dropout": dict(hidden=(16, 16), residual=True, dropout=0.3),  # train mode: masks active
}


@pytest.mark.parametrize("activation", [torch.nn.ReLU, torch.nn.Tanh], ids=["relu", "tanh"])
@pytest.mark.parametrize("params", [1, 3])
@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_jacobian_is_strictly_triangular_under_the_ordering(
    name: str, params: int, activation
) -> None:
    options = dict(OPTIONS[name])
    features = 5
    g = torch.Generator().manual_seed(1)
    net = randomise(
        bj.nn.MaskedMLP(features, params, activation=activation, generator=g, **options),
        replace=True,
    ).double()
    context = (
        torch.randn(net.context_features, dtype=torch.float64) if net.context_features else None
    )
    x = torch.randn(features, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: net(v, context), x)  # (D, params, D)
    rank = net.degrees  # position of each feature in the ordering, 1..D
    depends = jac.abs().sum(1) > 0  # output feature i depends on input j
    allowed = rank[None, :] < rank[:, None]
    assert not (depends & ~allowed).any(), "an output sees itself or a later feature"
    # Not vacuous: with a smooth activation and random weights every allowed connection is
    # used (ReLU may switch some paths off at this x; the narrowest network lacks a few).
    if activation is torch.nn.Tanh:
        assert depends[rank > 1].any(-1).all()
        if name not in ("narrow", "dropout"):  # dropped units may cut allowed paths
            assert torch.equal(depends, allowed)


def test_every_output_sees_the_context() -> None:
    net = randomise(
        bj.nn.MaskedMLP(4, 2, hidden=(16,), context=3, order="random"), replace=True
    ).double()
    x = torch.randn(4, dtype=torch.float64)
    c = torch.randn(3, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: net(x, v), c)  # (4, 2, 3)
    assert (jac.abs().sum(-1) > 0).all()


def test_starts_at_zero_and_rejects_bad_options() -> None:
    net = bj.nn.MaskedMLP(3, 2)
    assert torch.equal(net(torch.randn(7, 3)), torch.zeros(7, 3, 2))
    with pytest.raises(ValueError, match="permutation of 0..2"):
        bj.nn.MaskedMLP(3, 1, order=torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="equal hidden sizes"):
        bj.nn.MaskedMLP(3, 1, hidden=(8, 16), residual=True)
    with pytest.raises(ValueError, match="order 'natural', 'random'"):
        bj.nn.MaskedMLP(3, 1, order="reversed")
    with pytest.raises(ValueError, match="built with context=2; got no context"):
        bj.nn.MaskedMLP(3, 1, context=2)(torch.randn(3))


def test_masks_are_buffers_saved_with_the_model() -> None:
    net = bj.nn.MaskedMLP(4, 1, order="random")
    keys = net.state_dict().keys()
    assert "order" in keys and "first.mask" in keys and "last.mask" in keys
