"""Multi-scale image flows: Glow and RealNVP for images (C, H, W)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..distributions import StandardNormal
from ..transforms import (
    ActNorm,
    Compose,
    Conv1x1,
    ConvCoupling,
    MultiScale,
    Reversible,
    Squeeze,
    Transform,
)
from ..transforms.image import CouplingKind, Prior
from ..transforms.masks import _image, channel, checkerboard
from .base import Flow


def _next(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The shape after squeezing and factoring out half the channels."""
    c, h, w = shape
    return (2 * c, h // 2, w // 2)


class Glow(Flow):
    """Glow (Kingma & Dhariwal 2018, arXiv:1807.03039) on images `shape` (C, H, W): `scales`
    scales, each a squeeze then `steps` steps of ActNorm -> invertible 1x1 convolution
    (LU-decomposed with `lu`) -> affine coupling on a channel mask (ResNet conditioner
    `channels` wide with `blocks` residual blocks, zero-initialised); after each level but
    the last half the channels leave, scored by the learned prior (`prior='learned'`) or
    N(0, I). Base N(0, I) on the C H W latent. H and W must be divisible by 2^scales.
    With `reversible`, each level backpropagates by recomputing activations from its
    output (transforms.Reversible): activation memory stops growing with `steps`.

    Args:
        shape: the image shape (C, H, W).
        scales: the squeeze-and-split scales.
        steps: the steps per scale.
        channels: the coupling ResNets' width.
        blocks: their residual blocks.
        lu: LU-decomposed 1x1 convolutions.
        prior: "learned" or "standard", the prior of the halves that leave.
        coupling: "affine" or "additive".
        reversible: backpropagate by recomputing activations (memory flat in `steps`).

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.Glow((1, 8, 8), scales=2, steps=1, channels=8)
        >>> flow.log_prob(torch.rand(2, 1, 8, 8)).shape
        torch.Size([2])
        >>> flow.sample((3,)).shape
        torch.Size([3, 1, 8, 8])
    """

    def __init__(
        self,
        shape: Sequence[int],
        scales: int = 2,
        steps: int = 4,
        channels: int = 64,
        blocks: int = 1,
        lu: bool = True,
        prior: Prior = "learned",
        coupling: CouplingKind = "affine",
        reversible: bool = False,
    ) -> None:
        shape = _image(shape)
        _check_divisible("Glow", shape, scales)
        chain = Reversible if reversible else Compose
        stages, current = [], shape
        for _ in range(scales):
            squeezed = Squeeze(current).latent_shape
            layers: list[Transform] = [Squeeze(current)]
            for _ in range(steps):
                layers += [
                    ActNorm(squeezed),
                    Conv1x1(squeezed, lu=lu),
                    ConvCoupling(channel(squeezed), coupling, channels, blocks),
                ]
            stages.append(chain(*layers))
            current = _next(current)
        transform = MultiScale(stages, prior, channels, blocks)
        super().__init__(transform, StandardNormal(math.prod(shape)))


class ImageRealNVP(Flow):
    """RealNVP for images (Dinh et al. 2017, arXiv:1605.08803, section 3.6): `scales` scales;
    each but the last is 3 affine couplings on alternating checkerboard masks, a squeeze, and 3 on
    alternating channel masks, then half the channels are factored out (scored by N(0, I),
    as in the paper, or by Glow's learned prior); the last level is 4 checkerboard
    couplings. ActNorm precedes every coupling (the paper uses batch normalization).
    `reversible` as in Glow.

    Args:
        shape: the image shape (C, H, W).
        scales: the scales.
        channels: the coupling ResNets' width.
        blocks: their residual blocks.
        prior: "standard" or "learned".
        reversible: backpropagate by recomputing activations.

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.ImageRealNVP((1, 4, 4), scales=2, channels=8, blocks=1)
        >>> flow.log_prob(torch.rand(2, 1, 4, 4)).shape
        torch.Size([2])
    """

    def __init__(
        self,
        shape: Sequence[int],
        scales: int = 2,
        channels: int = 64,
        blocks: int = 2,
        prior: Prior = "standard",
        reversible: bool = False,
    ) -> None:
        shape = _image(shape)
        _check_divisible("ImageRealNVP", shape, scales - 1)
        chain = Reversible if reversible else Compose
        stages, current = [], shape
        for scale in range(scales):
            last = scale == scales - 1
            layers: list[Transform] = []
            for i in range(4 if last else 3):
                mask = checkerboard(current, even=i % 2 == 0)
                layers += [ActNorm(current), ConvCoupling(mask, "affine", channels, blocks)]
            if not last:
                squeezed = Squeeze(current).latent_shape
                layers.append(Squeeze(current))
                for i in range(3):
                    mask = channel(squeezed, first=i % 2 == 0)
                    layers += [ActNorm(squeezed), ConvCoupling(mask, "affine", channels, blocks)]
                current = _next(current)
            stages.append(chain(*layers))
        transform = MultiScale(stages, prior, channels, blocks)
        super().__init__(transform, StandardNormal(math.prod(shape)))


def _check_divisible(name: str, shape: tuple[int, int, int], squeezes: int) -> None:
    factor = 2**squeezes
    if shape[1] % factor or shape[2] % factor:
        raise ValueError(
            f"{name}: height and width must be divisible by {factor} for {squeezes} squeezes; "
            f"got {shape}"
        )
