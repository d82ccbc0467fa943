"""NADE's running-sum node (bijective.models.running_sum): values and gradients equal to
plain autograd over the materialised (N, D, H) pre-activations, in float64, for chunk
sizes that do and do not divide D."""

from __future__ import annotations

import pytest
import torch

from bijective.models.running_sum import nade_outputs


def reference(x: torch.Tensor, w: torch.Tensor, a0: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """a_k = a0 + sum_{j<k} x_j w_j as an exclusive cumulative sum, then sigma(a_k) v_k."""
    terms = x[:, :, None] * w  # (N, D, H)
    a = a0[:, None] + terms.cumsum(1) - terms
    return torch.einsum("ndh,dhk->ndk", torch.sigmoid(a), v)


@pytest.mark.parametrize(("d", "chunk", "k"), [(13, 4, 1), (12, 4, 3), (5, 16, 1), (9, 1, 2)])
def test_values_and_gradients_equal_plain_autograd(d: int, chunk: int, k: int) -> None:
    torch.manual_seed(d * chunk + k)
    n, h = 7, 6
    inputs = [
        torch.rand(n, d, dtype=torch.float64),  # any real x, not only {0, 1}
        torch.randn(d, h, dtype=torch.float64),
        torch.randn(n, h, dtype=torch.float64),
        torch.randn(d, h, k, dtype=torch.float64),
    ]
    for t in inputs:
        t.requires_grad_()
    weights = torch.randn(n, d, k, dtype=torch.float64)  # a loss with an uneven gradient
    out = nade_outputs(*inputs, chunk=chunk)
    expected = reference(*inputs)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad((out * weights).sum(), inputs)
    wanted = torch.autograd.grad((expected * weights).sum(), inputs)
    for name, got, want in zip(("x", "w", "a0", "v"), grads, wanted, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12, msg=name)


def test_gradcheck_with_an_expanded_start() -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    c = torch.randn(4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(5, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, c, v: nade_outputs(x, w, c.expand(3, -1), v, chunk=2), (x, w, c, v)
    )


def test_gradients_only_for_what_needs_them() -> None:
    x, w = torch.rand(2, 4), torch.randn(4, 3, requires_grad=True)
    out = nade_outputs(x, w, torch.zeros(2, 3), torch.randn(4, 3, 1), chunk=3)
    (gw,) = torch.autograd.grad(out.sum(), [w])
    assert gw.shape == w.shape and x.grad is None
