"""A discrete model of integer data: a flow on dequantized values and a dequantizer."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .base import Flow


class DequantizedFlow(nn.Module):
    """P(x) on x in {0..L-1}^D (`levels` L) from a flow p(y) on y in [0, 1)^D and a
    dequantizer q(u | x) (bijective.transforms.dequantization):

        log_prob(x, samples=K) = log (1/K) sum_k p(y_k) / (L^D q(u_k | x)),

    with K = 1 the variational bound E_q[log p(y) - log q(u | x)] - D log L (one draw, an
    unbiased estimate of it), and for K > 1 the importance-weighted bound, which rises
    to log P(x) as K grows (Ho et al. 2019). x holds integers as floats, (*batch, *event).
    """

    def __init__(self, flow: Flow, dequantizer: nn.Module, levels: int) -> None:
        super().__init__()
        self.flow, self.dequantizer, self.levels = flow, dequantizer, levels
        self.event_shape = flow.event_shape
        self.dims = math.prod(flow.event_shape)

    def log_prob(self, x: Tensor, samples: int = 1) -> Tensor:
        terms = []
        for _ in range(samples):
            y, log_q = self.dequantizer(x)
            terms.append(self.flow.log_prob(y) - log_q)
        log_mean = torch.logsumexp(torch.stack(terms), 0) - math.log(samples)
        return log_mean - self.dims * math.log(self.levels)

    def bits_per_dim(self, x: Tensor, samples: int = 1) -> Tensor:
        """-log_prob(x, samples) / (D ln 2), per example."""
        return -self.log_prob(x, samples) / (self.dims * math.log(2))

    @torch.no_grad()
    def sample(self, shape: Sequence[int] | int = (), temperature: float = 1.0) -> Tensor:
        """Integer samples floor(L y), y from the flow at `temperature`."""
        y = self.flow.sample(shape, temperature=temperature)
        return (y * self.levels).floor().clamp(0, self.levels - 1)
