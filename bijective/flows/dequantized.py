"""A discrete model of integer data: a flow on dequantized values and a dequantizer, and
`dequantized`, the one path by which integer data reach a continuous flow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .. import objectives
from ..recorded import built_with
from ..transforms import ActNorm, Logit
from ..transforms.dequantization import UniformDequantization, VariationalDequantization
from .base import Flow


class DequantizedFlow(nn.Module):
    """P(x) on x in {0..L-1}^D (`levels` L) from a flow p(y) on y in [0, 1)^D and a
    dequantizer q(u | x) (bijective.transforms.dequantization):

        log_prob(x, samples=K) = log (1/K) sum_k p(y_k) / (L^D q(u_k | x)),

    with K = 1 the variational bound E_q[log p(y) - log q(u | x)] - D log L (one draw, an
    unbiased estimate of it), and for K > 1 the importance-weighted bound, which rises
    to log P(x) as K grows (Ho et al. 2019). x holds integers (an integer tensor, or
    integers as floats), (*batch, *event);
    a context (*batch, C) goes to the flow. A `bijective.Density`.

    Args:
        flow: the flow on [0, 1)^D (or a Logit prefix's real line).
        dequantizer: q(u | x): uniform or variational (bijective.transforms.dequantization).
        levels: L, the values of each variable.

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.dequantized(bj.flows.MAF(4, transforms=1, hidden=(8,)), levels=17)
        >>> x = torch.randint(0, 17, (5, 4))
        >>> flow.log_prob(x).shape  # log P(x) of the integers, by the dequantization bound
        torch.Size([5])
    """

    def __init__(self, flow: Flow, dequantizer: nn.Module, levels: int) -> None:
        super().__init__()
        self.flow, self.dequantizer, self.levels = flow, dequantizer, levels
        self.event_shape = flow.event_shape
        self.dims = math.prod(flow.event_shape)
        self.recipe: dict[str, Any] | None = None  # set by `dequantized`

    def training_loss(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """What training minimises: the NLL by the bound, or, for a flow with a loss of
        its own (flow matching's regression), that loss on the dequantized y."""
        if not hasattr(self.flow, "training_loss"):
            return -self.log_prob(x, context).mean()
        if not x.is_floating_point():
            x = x.to(next(self.flow.parameters()).dtype)
        return self.flow.training_loss(self.dequantizer(x)[0], context)

    def log_prob(self, x: Tensor, context: Tensor | None = None, *, samples: int = 1) -> Tensor:
        """log P(x | context) by the bound with `samples` draws, in nats: (*batch)."""
        if not x.is_floating_point():  # integers convert exactly (up to 2^24 in float32)
            x = x.to(next(self.flow.parameters(), torch.empty(0)).dtype)
        terms = []
        for _ in range(samples):
            y, log_q = self.dequantizer(x)
            terms.append(self.flow.log_prob(y, context) - log_q)
        log_mean = torch.logsumexp(torch.stack(terms), 0) - math.log(samples)
        return log_mean - self.dims * math.log(self.levels)

    def bits_per_dim(self, x: Tensor, context: Tensor | None = None, *, samples: int = 1) -> Tensor:
        """-log_prob(x, context, samples=K) in bits per dimension, per example."""
        return objectives.bits_per_dim(-self.log_prob(x, context, samples=samples), self.dims)

    @torch.no_grad()
    def sample(
        self,
        shape: Sequence[int] | int = (),
        context: Tensor | None = None,
        temperature: float = 1.0,
        *,
        guidance: float = 0.0,
    ) -> Tensor:
        """Integer samples floor(L y), y from the flow at `temperature`; `guidance` w != 0
        goes to a flow that takes it (TarFlow's classifier-free guidance)."""
        guided = {"guidance": guidance} if guidance else {}
        y = self.flow.sample(shape, context, temperature, **guided)
        return (y * self.levels).floor().clamp(0, self.levels - 1)


def dequantized(
    flow: Flow,
    levels: int,
    dequantization: Literal["uniform", "variational"] = "uniform",
    logit: float | None = 0.05,
) -> DequantizedFlow:
    """`flow` as a model of integers in {0..levels-1}: with `logit` a, the flow sees
    logit(a + (1 - 2a) y) of the dequantized y (and, for vector events, an ActNorm after
    it: vector flows have no normalisation of their own; image flows do), log-dets
    counted; the dequantizer is "uniform" or "variational" (Flow++, images (C, H, W))."""
    shape, source = flow.event_shape, flow
    if dequantization not in ("uniform", "variational"):
        raise ValueError(f"dequantization: expected uniform or variational; got {dequantization!r}")
    if dequantization == "variational" and len(shape) != 3:
        raise ValueError(
            f"dequantization: variational dequantization needs an image flow (C, H, W); "
            f"this flow models events of shape {tuple(shape)}"
        )
    if logit is not None:
        prefix = [Logit(shape, alpha=logit)] + ([ActNorm(shape[0])] if len(shape) == 1 else [])
        flow = flow.prefixed(*prefix)
    if dequantization == "variational":
        dequantizer: nn.Module = VariationalDequantization(shape, levels)
    else:
        dequantizer = UniformDequantization(levels, event_dims=len(shape))
    model = DequantizedFlow(flow, dequantizer, levels)
    # How it was made, for bj.save: the flow given (its class and arguments) and the rest.
    model.recipe = {
        "flow": (type(source), built_with(source)),
        "dequantization": dequantization,
        "logit": logit,
    }
    return model
