"""RealNVP for vectors: affine couplings on alternating masks."""

from __future__ import annotations

from collections.abc import Sequence

from ..distributions import StandardNormal
from ..transforms import ActNorm, AffineCoupling, Compose, Transform, masks
from .base import Flow


class RealNVP(Flow):
    """RealNVP (Dinh et al. 2017, arXiv:1605.08803) on vectors: `transforms` affine
    couplings whose alternating masks flip from layer to layer, each preceded by ActNorm
    (where the paper uses batch normalization), standard normal base.

    Args:
        features: D.
        context: C, the size of the context vector of a conditional flow (0: none).
        transforms: the affine couplings.
        hidden: the conditioners' hidden sizes.
        dropout: the conditioners' dropout rate (train mode only).

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.RealNVP(features=4, context=2, transforms=2, hidden=(16,))
        >>> flow.log_prob(torch.randn(6, 4), torch.randn(6, 2)).shape
        torch.Size([6])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 8,
        hidden: Sequence[int] = (128, 128),
        dropout: float = 0.0,
    ) -> None:
        layers: list[Transform] = []
        for i in range(transforms):
            mask = masks.alternating(features, even=i % 2 == 0)
            layers += [
                ActNorm(features),
                AffineCoupling(features, mask, hidden, context, dropout=dropout),
            ]
        super().__init__(Compose(*layers), StandardNormal(features))
