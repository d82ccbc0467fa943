"""Memory-saving backpropagation through invertible layers (Gomez et al. 2017, RevNets):
the forward pass keeps only its output; the backward pass recovers each layer's input
from its output with the layer's inverse and recomputes that layer's forward with
autograd on. Activation memory no longer grows with depth, at the price of one inverse
and one extra forward per layer."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import Compose


class Reversible(Compose):
    """A Compose whose forward pass, when gradients are needed, stores no intermediate
    activations (see the module docstring). Values and gradients equal Compose's up to
    the rounding of the recovered inputs. Gradients reach the parameters and x (and a
    context) through `.backward()`; torch.autograd.grad with respect to the parameters
    is not supported (they are accumulated into .grad by the recomputation).

    Args:
        *transforms: the parts, as Compose takes them.

    Example:
        >>> import torch, bijective as bj
        >>> T = bj.transforms
        >>> f = T.Reversible(T.AffineCoupling(4, T.masks.half(4)), T.LULinear(4))
        >>> x = torch.randn(3, 4, requires_grad=True)
        >>> z, ladj = f(x)
        >>> (z.square().sum() - ladj.sum()).backward()  # recomputes, stores no activations
        >>> x.grad.shape
        torch.Size([3, 4])
    """

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if not torch.is_grad_enabled():
            return super()._forward(x, context)
        dummy = torch.empty(0, requires_grad=True)  # makes the Function part of the graph
        return _ReversibleFunction.apply(self, x, context, dummy)


class _ReversibleFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, chain: Reversible, x: Tensor, context: Tensor | None, dummy: Tensor
    ) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            z, ladj = Compose._forward(chain, x, context)
        ctx.chain, ctx.context = chain, context
        ctx.save_for_backward(z.detach())
        return z, ladj

    @staticmethod
    def backward(ctx: Any, grad_z: Tensor, grad_ladj: Tensor) -> tuple[Any, ...]:
        (z,) = ctx.saved_tensors
        chain, context = ctx.chain, ctx.context
        grad_context = None
        if context is not None and context.requires_grad:
            context = context.detach().requires_grad_()
        for layer in reversed(chain.transforms):
            with torch.no_grad():
                x, _ = layer._inverse(z, context)
            with torch.enable_grad():
                x = x.detach().requires_grad_()
                out, ladj = layer._forward(x, context)
                pairs = [(out, grad_z)] + [(ladj, grad_ladj)] * ladj.requires_grad  # not Squeeze's
                torch.autograd.backward(*zip(*pairs, strict=True))
            grad_z, z = x.grad, x.detach()
        if context is not None and context.requires_grad:
            grad_context = context.grad
        return None, grad_z, grad_context, None
