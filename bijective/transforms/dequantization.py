"""Dequantization: integer pixels x in {0..L-1}^D become continuous y = (x + u) / L in
[0, 1)^D, so a density p(y) bounds the discrete likelihood (Theis et al. 2016):

    log P(x) = log E_q[p(y) / (L^D q(u | x))] >= E_q[log p(y) - log q(u | x)] - D log L.

A dequantizer maps x (*batch, *shape), integers as floats, to (y, log q(u | x)), one draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..gaussian import log_normal
from .base import Compose, sum_event
from .elementwise import Logit
from .image import ConvCoupling
from .masks import _image, checkerboard


class UniformDequantization(nn.Module):
    """u ~ U[0, 1)^D independently of x: log q(u | x) = 0 (RealNVP, Glow). Events have
    `event_dims` dimensions (3 for images, 1 for vectors)."""

    def __init__(self, levels: int, event_dims: int = 3) -> None:
        super().__init__()
        self.levels, self.event_dims = levels, event_dims

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        u = torch.rand_like(x)
        return (x + u) / self.levels, x.new_zeros(x.shape[: x.dim() - self.event_dims])


class VariationalDequantization(nn.Module):
    """Flow++'s variational dequantization (Ho et al. 2019, arXiv:1902.00275): u =
    sigmoid(g^{-1}(eps; x)), eps ~ N(0, I), where g is `couplings` affine ConvCouplings
    on alternating checkerboard masks conditioned on the image x / (L - 1) - 1/2, so
    log q(u | x) = log N(eps) - log|det du/deps|; q is trained with the flow on the bound.
    For images of `shape` (C, H, W)."""

    def __init__(
        self,
        shape: Sequence[int],
        levels: int,
        couplings: int = 4,
        channels: int = 32,
        blocks: int = 1,
    ) -> None:
        super().__init__()
        c, h, w = _image(shape)
        self.shape, self.levels = (c, h, w), levels
        layers = [Logit(self.shape)]
        for i in range(couplings):
            mask = checkerboard(self.shape, even=i % 2 == 0)
            layers.append(ConvCoupling(mask, "affine", channels, blocks, context_channels=c))
        self.transform = Compose(*layers)  # u -> eps, the normalizing direction

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        context = (x / (self.levels - 1) - 0.5).flatten(-3)
        eps = torch.randn_like(x)
        u, ladj = self.transform._inverse(eps, context)  # ladj = log|det du/deps|
        log_q0 = sum_event(log_normal(eps), 3)
        return (x + u) / self.levels, log_q0 - ladj
