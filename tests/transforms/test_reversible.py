"""Reversible backpropagation: the same values and gradients as Compose, without storing
the intermediate activations."""

from __future__ import annotations

import pytest
import torch
from registry import randomise

import bijective as bj
from bijective.transforms import masks

T = bj.transforms
SHAPE = (2, 4, 4)


def layers(context: int = 0) -> list[T.Transform]:
    torch.manual_seed(0)
    out: list[T.Transform] = []
    for i in range(3):
        out += [
            T.ActNorm(SHAPE),
            T.Conv1x1(SHAPE),
            T.ConvCoupling(
                masks.checkerboard(SHAPE, i % 2 == 0),
                channels=8,
                blocks=1,
                context_channels=context,
            ),
        ]
    return out


def gradients(chain: T.Transform, x: torch.Tensor, c: torch.Tensor | None):
    chain.zero_grad()
    x = x.clone().requires_grad_()
    c = None if c is None else c.clone().requires_grad_()
    z, ladj = chain(x, c)
    ((z * z).sum() - ladj.sum() + z.sin().sum()).backward()
    grads = [p.grad.clone() for p in chain.parameters()] + [x.grad]
    return z.detach(), ladj.detach(), grads + ([] if c is None else [c.grad])


@pytest.mark.parametrize("context", [0, 1])
def test_values_and_gradients_equal_compose(context: int) -> None:
    plain = T.Compose(*layers(context)).double()
    x = torch.randn(6, *SHAPE, dtype=torch.float64)
    c = torch.randn(6, 16 * context, dtype=torch.float64) if context else None
    plain(x, c)  # ActNorm's initialisation
    randomise(plain, 0.1, torch.Generator().manual_seed(0))
    reversible = T.Reversible(*plain.transforms)  # the same layers
    a, b = gradients(plain, x, c), gradients(reversible, x, c)
    torch.testing.assert_close(a[0], b[0], atol=0, rtol=0)
    torch.testing.assert_close(a[1], b[1], atol=0, rtol=0)
    for ga, gb in zip(a[2], b[2], strict=True):
        torch.testing.assert_close(ga, gb, atol=1e-9, rtol=1e-9)


def saved_bytes(chain: T.Transform, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of one forward."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        z, ladj = chain(x)
    return total


def test_only_the_output_is_kept() -> None:
    """Standard backprop keeps activations of every layer (their size grows with depth);
    the reversible chain keeps its output alone."""
    shallow, deep = T.Compose(*layers()[:3]), T.Compose(*layers())
    x = torch.randn(8, *SHAPE)
    deep(x)
    assert saved_bytes(deep, x) > 2 * saved_bytes(shallow, x) > 0
    assert saved_bytes(T.Reversible(*deep.transforms), x) == x.numel() * x.element_size()
