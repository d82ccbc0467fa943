"""Masks and the one coupling class with its transformers."""

from __future__ import annotations

import pytest
import torch
from registry import randomise

import bijective as bj
from bijective.transforms import masks

T = bj.transforms


def test_vector_masks() -> None:
    assert masks.alternating(5).tolist() == [True, False, True, False, True]
    assert masks.alternating(4, even=False).tolist() == [False, True, False, True]
    assert masks.half(5).tolist() == [True, True, True, False, False]
    assert masks.half(4, first=False).tolist() == [False, False, True, True]
    m = masks.random(7, torch.Generator().manual_seed(0))
    assert m.dtype == torch.bool and int(m.sum()) == 4


def test_image_masks() -> None:
    cb = masks.checkerboard((2, 3, 3))
    assert cb.shape == (2, 3, 3) and bool(cb[0, 0, 0]) and not bool(cb[1, 0, 1])
    assert torch.equal(masks.checkerboard((2, 3, 3), even=False), ~cb)
    ch = masks.channel((4, 2, 2))
    assert ch[:2].all() and not ch[2:].any()
    with pytest.raises(ValueError, match=r"image shape \(C, H, W\)"):
        masks.channel((4, 2))


def test_coupling_keeps_masked_entries_and_starts_as_identity() -> None:
    t = T.AffineCoupling(6, masks.alternating(6))
    x = torch.randn(10, 6)
    z, ladj = t(x)
    torch.testing.assert_close(z, x)  # zero-initialised last layer
    torch.testing.assert_close(ladj, torch.zeros(10))
    randomise(t, replace=True)
    z, _ = t(x)
    torch.testing.assert_close(z[:, ::2], x[:, ::2])
    assert not torch.allclose(z[:, 1::2], x[:, 1::2])


def test_affine_log_scale_is_soft_clamped() -> None:
    transformer = T.AffineTransformer(clamp=2.0)
    params = torch.tensor([[[0.0, 1e6], [0.0, -1e6], [0.0, 0.5]]])
    _, log_scale = transformer.forward(torch.ones(1, 3), params)
    assert log_scale.abs().max() <= 2.0
    torch.testing.assert_close(log_scale[0, 2], 2.0 * torch.tanh(torch.tensor(0.25)))


def test_additive_coupling_preserves_volume() -> None:
    t = T.AdditiveCoupling(4, masks.half(4))
    randomise(t, replace=True)
    _, ladj = t(torch.randn(8, 4))
    assert torch.equal(ladj, torch.zeros(8))


def test_context_changes_the_output() -> None:
    t = T.AffineCoupling(4, masks.half(4), context=2)
    randomise(t, replace=True)
    x = torch.randn(5, 4)
    a, _ = t(x, torch.zeros(5, 2))
    b, _ = t(x, torch.ones(5, 2))
    assert not torch.allclose(a, b)
    c, _ = t(x, torch.zeros(2))  # one context broadcast over the batch
    torch.testing.assert_close(a, c)


def test_custom_conditioner() -> None:
    """Any module mapping (x_kept, context) -> params works as the conditioner."""

    class Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 2 * 2)

        def forward(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
            return self.layer(x)

    t = T.Coupling(masks.half(4), T.AffineTransformer(), conditioner=Linear()).double()
    x = torch.randn(6, 4, dtype=torch.float64)
    assert bj.check(t, x).logdet_error < 1e-10


def test_coupling_rejects_degenerate_and_mismatched_masks() -> None:
    with pytest.raises(ValueError, match="must keep some entries"):
        T.Coupling(torch.ones(4, dtype=torch.bool), T.AdditiveTransformer())
    with pytest.raises(ValueError, match=r"expected a mask of shape \(8,\); got \(6,\)"):
        T.AffineCoupling(8, masks.alternating(6))


def test_a_loaded_mask_replaces_the_views_of_the_constructed_one() -> None:
    """Halves and alternating masks are read through slices; loading another layer's state
    (here a scattered random mask) must switch to that mask, not keep the old slices."""
    g = torch.Generator().manual_seed(0)
    source = bj.transforms.AffineCoupling(6, bj.transforms.masks.random(6, g), hidden=(8,))
    target = bj.transforms.AffineCoupling(6, bj.transforms.masks.half(6), hidden=(8,))
    with torch.no_grad():
        for p in source.parameters():
            p.normal_(generator=g)
    target.load_state_dict(source.state_dict())
    x = torch.randn(5, 6, generator=g)
    for a, b in zip(target(x), source(x), strict=True):
        torch.testing.assert_close(a, b)
