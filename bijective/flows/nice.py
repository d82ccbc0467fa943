"""NICE: additive couplings and a final diagonal scaling."""

from __future__ import annotations

from collections.abc import Sequence

from ..distributions import StandardNormal
from ..transforms import AdditiveCoupling, Affine, Compose, Transform, masks
from .base import Flow


class NICE(Flow):
    """NICE (Dinh et al. 2015, arXiv:1410.8516): `transforms` additive couplings on
    alternating masks (volume preserving), then the diagonal scaling layer that gives the
    flow its only change of volume; standard normal base (the paper also uses logistic).

    Args:
        features: D.
        context: C, the size of the context vector of a conditional flow (0: none).
        transforms: the additive couplings.
        hidden: the conditioners' hidden sizes.
        dropout: the conditioners' dropout rate (train mode only).

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.NICE(features=4, transforms=2, hidden=(16,))
        >>> flow.log_prob(torch.randn(6, 4)).shape
        torch.Size([6])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 4,
        hidden: Sequence[int] = (128, 128),
        dropout: float = 0.0,
    ) -> None:
        layers: list[Transform] = [
            AdditiveCoupling(
                features,
                masks.alternating(features, even=i % 2 == 0),
                hidden=hidden,
                context=context,
                dropout=dropout,
            )
            for i in range(transforms)
        ]
        layers.append(Affine(features, shift=False))
        super().__init__(Compose(*layers), StandardNormal(features))
