"""MAF and IAF: stacks of autoregressive layers."""

from __future__ import annotations

from collections.abc import Sequence

from ..distributions import StandardNormal
from ..transforms import AffineTransformer, Autoregressive, Compose
from .base import Flow
from .mixing import Mixing, interleave


def _steps(
    features: int,
    context: int,
    transforms: int,
    hidden: Sequence[int],
    residual: bool,
    dropout: float,
) -> list[Autoregressive]:
    return [
        Autoregressive(
            features, AffineTransformer(), hidden, context, residual=residual, dropout=dropout
        )
        for _ in range(transforms)
    ]


class MAF(Flow):
    """Masked autoregressive flow (Papamakarios et al. 2017, arXiv:1705.07057): `transforms`
    affine MADE layers with `mixing` between them, standard normal base. Density in one
    pass per layer; sampling solves each layer feature by feature in D small steps that
    together multiply less than one pass does (`MaskedMLP.solve`).

    Args:
        features: D.
        context: C, the size of the context vector of a conditional flow (0: none).
        transforms: the layers.
        hidden: the conditioners' hidden sizes.
        residual: residual MADE blocks (ResMADE).
        mixing: between layers, "reverse" or "random" permutations, or "lu" (LULinear).
        dropout: the conditioners' dropout rate (train mode only).

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.MAF(features=3, transforms=2, hidden=(16, 16))
        >>> flow.log_prob(torch.randn(8, 3)).shape
        torch.Size([8])
        >>> flow.sample((4,), temperature=0.7).shape
        torch.Size([4, 3])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 5,
        hidden: Sequence[int] = (128, 128),
        residual: bool = False,
        mixing: Mixing = "reverse",
        dropout: float = 0.0,
    ) -> None:
        steps = _steps(features, context, transforms, hidden, residual, dropout)
        super().__init__(Compose(*interleave(steps, features, mixing)), StandardNormal(features))


class IAF(Flow):
    """Inverse autoregressive flow (Kingma et al. 2016, arXiv:1606.04934): MAF's layers
    inverted, so sampling is one pass per layer and density evaluation is the D-step solve.

    Args:
        features: D.
        context: C, the size of the context vector of a conditional flow (0: none).
        transforms: the layers.
        hidden: the conditioners' hidden sizes.
        residual: residual MADE blocks (ResMADE).
        mixing: between layers, "reverse" or "random" permutations, or "lu" (LULinear).
        dropout: the conditioners' dropout rate (train mode only).

    Example:
        >>> import bijective as bj
        >>> flow = bj.flows.IAF(features=3, transforms=2, hidden=(16, 16))
        >>> z, log_q = flow.sample_and_log_prob((5,))  # the fast direction: variational inference
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5]))
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        transforms: int = 5,
        hidden: Sequence[int] = (128, 128),
        residual: bool = False,
        mixing: Mixing = "reverse",
        dropout: float = 0.0,
    ) -> None:
        steps = [s.inv for s in _steps(features, context, transforms, hidden, residual, dropout)]
        super().__init__(Compose(*interleave(steps, features, mixing)), StandardNormal(features))
