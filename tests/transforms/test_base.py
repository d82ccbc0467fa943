"""Compose and the inverse view."""

from __future__ import annotations

import torch
from registry import randomise

import bijective as bj

T = bj.transforms


def test_compose_applies_in_order_and_sums_ladj() -> None:
    a, b = randomise(T.Affine(3).double(), 0.5), randomise(T.Planar(3).double(), 0.5)
    x = torch.randn(4, 3, dtype=torch.float64)
    z1, l1 = a(x)
    z2, l2 = b(z1)
    z, ladj = T.Compose(a, b)(x)
    torch.testing.assert_close(z, z2)
    torch.testing.assert_close(ladj, l1 + l2)
    x_back, ladj_inv = T.Compose(a, b).inverse(z)
    torch.testing.assert_close(x_back, x)
    torch.testing.assert_close(ladj_inv, -ladj)


def test_nested_compose_and_indexing() -> None:
    a, b, c = T.Affine(2), T.LULinear(2), T.Planar(2)
    inner = T.Compose(a, b)
    outer = T.Compose(inner, c)
    assert len(outer) == 2 and outer[0] is inner and outer[1] is c
    assert outer.event_shape == (2,) and outer.latent_shape == (2,)


def test_inverse_view_shares_parameters() -> None:
    t = T.Affine(3)
    view = t.inv
    assert view.inv is t
    with torch.no_grad():
        t.log_scale.fill_(0.5)  # a change to the original shows in the view
    x = torch.randn(2, 3)
    z, ladj = view(x)
    torch.testing.assert_close(z, x * torch.exp(torch.tensor(-0.5)))
    torch.testing.assert_close(ladj, torch.full((2,), -1.5))
    assert view.state_dict()["transform.log_scale"].data_ptr() == t.log_scale.data_ptr()


def test_context_size_of_a_composition() -> None:
    masks = T.masks
    conditional = T.Compose(T.Affine(2), T.AffineCoupling(2, masks.half(2), context=4))
    assert conditional.context_features == 4
    assert T.Compose(T.Affine(2), T.Planar(2)).context_features is None
