"""Flows of residual maps z = x + g(x): planar and radial (Rezende & Mohamed 2015), and
contractive residual flows (i-ResNet, Residual Flows)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

from ..distributions import Distribution, StandardNormal, Uniform
from ..transforms import ActNorm, Compose, InvertibleResidual, MultiScale, Planar, Radial, Squeeze
from ..transforms.contractive import ConvInvertibleResidual, LogDet
from ..transforms.masks import _image
from .base import Flow
from .glow import _check_divisible, _next

Base = Literal["normal", "uniform"]


def _no_context(name: str, context: int) -> None:
    if context:
        raise ValueError(f"{name}: has no conditional form; expected context=0, got {context}")


def _base(name: str, base: str, features: int) -> Distribution:
    """'normal': N(0, I); 'uniform': U[-1, 1]^D (the two bases of Rezende & Mohamed's Fig. 1)."""
    if base == "normal":
        return StandardNormal(features)
    if base == "uniform":
        return Uniform(-torch.ones(features), torch.ones(features))
    raise ValueError(f"{name}: expected base 'normal' or 'uniform'; got {base!r}")


class PlanarFlow(Flow):
    """K = `layers` planar maps (Rezende & Mohamed 2015, arXiv:1505.05770, eq. 10) on a
    standard normal or, with base='uniform', on U[-1, 1]^D. The cheap direction is sampling
    (the paper's direction): used for variational inference, where log q of its own samples
    needs no inversion; log_prob of given points inverts each map by a bracketed scalar root
    find.

    Args:
        features: D.
        context: C: the maps' parameters per example from the context (amortised; 0: free).
        layers: K, the planar maps.
        base: "normal", N(0, I), or "uniform", U[-1, 1]^D.

    Example:
        >>> import bijective as bj
        >>> flow = bj.flows.PlanarFlow(features=2, layers=4)
        >>> z, log_q = flow.sample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5, 2]), torch.Size([5]))
    """

    def __init__(
        self, features: int, context: int = 0, layers: int = 8, base: Base = "normal"
    ) -> None:
        _no_context("PlanarFlow", context)
        super().__init__(Planar(features, layers).inv, _base("PlanarFlow", base, features))


class RadialFlow(Flow):
    """K = `layers` radial maps (Rezende & Mohamed 2015, eq. 14) on a standard normal (or
    U[-1, 1]^D), applied in the sampling direction like PlanarFlow; their inverses are closed
    form.

    Args:
        features: D.
        context: C: the maps' parameters per example from the context (amortised; 0: free).
        layers: K, the radial maps.
        base: "normal", N(0, I), or "uniform", U[-1, 1]^D.

    Example:
        >>> import bijective as bj
        >>> bj.flows.RadialFlow(features=2, layers=4).sample((5,)).shape
        torch.Size([5, 2])
    """

    def __init__(
        self, features: int, context: int = 0, layers: int = 8, base: Base = "normal"
    ) -> None:
        _no_context("RadialFlow", context)
        maps = Compose(*(Radial(features) for _ in range(layers)))
        super().__init__(maps.inv, _base("RadialFlow", base, features))


class ResidualFlow(Flow):
    """`blocks` x (ActNorm, InvertibleResidual) on a standard normal: Residual Flows (Chen et
    al. 2019, arXiv:1906.02735) with the defaults (LipSwish, unbiased Russian-roulette
    log-det, Neumann gradient), or the i-ResNet (Behrmann et al. 2019) with
    logdet='series', activation='elu'. log_prob is the explicit direction; sampling inverts
    each block by a fixed-point iteration. In eval mode the log-det is `eval_logdet`:
    'exact' (the default; D backward passes a block) or an estimate for large D.

    Args:
        features: D.
        context: C, the size of the context vector of a conditional flow (0: none).
        blocks: the invertible residual blocks.
        hidden: each block's hidden sizes.
        coeff: the bound on each block's Lipschitz constant, < 1.
        activation: the 1-Lipschitz activation.
        logdet: the log-det in training mode: "roulette", "series" or "exact".
        terms: the terms always computed in training mode.
        eval_logdet: the log-det in eval mode.
        max_iterations: the fixed-point inverse's limit.

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.ResidualFlow(features=2, blocks=2, hidden=(16,)).eval()
        >>> flow.log_prob(torch.randn(4, 2)).shape  # eval mode: the exact log-det
        torch.Size([4])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        blocks: int = 10,
        hidden: Sequence[int] = (64, 64),
        coeff: float = 0.97,
        activation: Literal["lipswish", "elu", "tanh"] = "lipswish",
        logdet: LogDet = "roulette",
        terms: int = 2,
        eval_logdet: LogDet = "exact",
        max_iterations: int = 1000,
    ) -> None:
        if blocks < 1:
            raise ValueError(f"ResidualFlow: expected blocks >= 1; got {blocks}")
        layers = []
        for _ in range(blocks):
            layers.append(ActNorm(features))
            layers.append(
                InvertibleResidual(
                    features,
                    hidden=tuple(hidden),
                    context=context,
                    coeff=coeff,
                    activation=activation,
                    logdet=logdet,
                    terms=terms,
                    eval_logdet=eval_logdet,
                    max_iterations=max_iterations,
                )
            )
        super().__init__(Compose(*layers), StandardNormal(features))


class ImageResidualFlow(Flow):
    """The multi-scale Residual Flow for images (C, H, W) (Chen et al. 2019, section 6):
    `scales` scales, each a squeeze then `blocks` x (ActNorm, ConvInvertibleResidual with
    `channels` hidden channels); after each level but the last, half the channels leave,
    scored by N(0, I). Log-dets by Russian roulette in training and, by default, in eval
    mode too (`eval_logdet='roulette'`, 20 exact terms: unbiased, not exact; 'exact' costs
    C H W backward passes a block). H and W must be divisible by 2^scales. Trained on
    integer pixels through `dequantized` (configs: `image-resflow`).

    Args:
        shape: the image shape (C, H, W).
        scales: the scales.
        blocks: the invertible residual blocks per scale.
        channels: their hidden channels.
        coeff: the bound on each block's Lipschitz constant, < 1.
        eval_logdet: the log-det in eval mode.
        max_iterations: the fixed-point inverse's limit.

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.ImageResidualFlow((1, 4, 4), scales=1, blocks=1, channels=4)
        >>> flow.log_prob(torch.rand(2, 1, 4, 4)).shape
        torch.Size([2])
    """

    def __init__(
        self,
        shape: Sequence[int],
        scales: int = 2,
        blocks: int = 2,
        channels: int = 64,
        coeff: float = 0.97,
        eval_logdet: LogDet = "roulette",
        max_iterations: int = 1000,
    ) -> None:
        shape = _image(shape)
        _check_divisible("ImageResidualFlow", shape, scales)
        if blocks < 1:
            raise ValueError(f"ImageResidualFlow: expected blocks >= 1; got {blocks}")
        stages, current = [], shape
        for _ in range(scales):
            squeezed = Squeeze(current).latent_shape
            layers = [Squeeze(current)]
            for _ in range(blocks):
                layers.append(ActNorm(squeezed))
                layers.append(
                    ConvInvertibleResidual(
                        squeezed,
                        channels,
                        coeff,
                        eval_logdet=eval_logdet,
                        max_iterations=max_iterations,
                    )
                )
            stages.append(Compose(*layers))
            current = _next(current)
        super().__init__(MultiScale(stages, "standard"), StandardNormal(math.prod(shape)))
