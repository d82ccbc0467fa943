"""Neural spline flows: rational-quadratic splines in coupling or autoregressive layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..distributions import StandardNormal
from ..transforms import Autoregressive, Compose, Coupling, SplineTransformer, Transform, masks
from .base import Flow
from .mixing import Mixing, interleave


class NSF(Flow):
    """Neural spline flow (Durkan et al. 2019, arXiv:1906.04032): `transforms` layers of
    rational-quadratic splines with `bins` bins on [-bound, bound] (identity outside),
    conditioned by a coupling MLP (`variant="coupling"`, alternating halves) or a residual
    MADE (`variant="autoregressive"`), with `mixing` between layers (LU by default, as in
    the paper); `dropout` regularises the conditioners on small data sets.

    Args:
        features: D.
        context: C, the size of the context vector of a conditional flow (0: none).
        transforms: the layers.
        bins: K, the spline's bins.
        bound: the splines act on [-bound, bound], the identity outside.
        hidden: the conditioners' hidden sizes.
        variant: "autoregressive" (MADE conditioners) or "coupling".
        mixing: between layers, "reverse" or "random" permutations, or "lu" (LULinear).
        dropout: the conditioners' dropout rate (train mode only).

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.NSF(features=2, transforms=2, bins=4, hidden=(16, 16))
        >>> flow.log_prob(torch.randn(5, 2)).shape
        torch.Size([5])
        >>> bj.flows.NSF(2, variant="coupling", hidden=(16,)).sample((3,)).shape
        torch.Size([3, 2])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 5,
        bins: int = 8,
        bound: float = 5.0,
        hidden: Sequence[int] = (128, 128),
        variant: Literal["autoregressive", "coupling"] = "autoregressive",
        mixing: Mixing = "lu",
        dropout: float = 0.0,
    ) -> None:
        if variant not in ("autoregressive", "coupling"):
            raise ValueError(
                f"NSF: expected variant 'autoregressive' or 'coupling'; got {variant!r}"
            )
        steps: list[Transform] = []
        for i in range(transforms):
            spline = SplineTransformer(bins, bound)
            if variant == "coupling":
                mask = masks.half(features, first=i % 2 == 0)
                steps.append(
                    Coupling(mask, spline, hidden=hidden, context=context, dropout=dropout)
                )
            else:
                steps.append(
                    Autoregressive(
                        features, spline, hidden, context, residual=True, dropout=dropout
                    )
                )
        super().__init__(Compose(*interleave(steps, features, mixing)), StandardNormal(features))
