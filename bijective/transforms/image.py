"""Transforms of images (C, H, W): squeeze, invertible 1x1 convolutions, convolutional
couplings, and the multi-scale architecture with factor-out (Dinh et al. 2017, RealNVP,
arXiv:1605.08803; Kingma & Dhariwal 2018, Glow, arXiv:1807.03039)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..nn.conv import MaskedConvConditioner
from ..validation import Shape
from .base import Transform, batch_shape
from .coupling import Coupling
from .linear import init_lu, lu_weight, random_rotation
from .masks import _image, channel
from .transformers import AdditiveTransformer, AffineTransformer

CouplingKind = Literal["affine", "additive"]
Prior = Literal["learned", "standard"]  # of the factored-out halves: Glow's, or N(0, I)


class Squeeze(Transform):
    """Space to depth: (C, H, W) -> (4C, H/2, W/2); each 2x2 block of a channel becomes 4
    channels (channel c * 4 + 2i + j holds pixel (2h + i, 2w + j) of channel c). A
    permutation: ladj = 0.

    Args:
        shape: the image shape (C, H, W), H and W even.

    Example:
        >>> import torch, bijective as bj
        >>> z, ladj = bj.transforms.Squeeze((1, 4, 4))(torch.randn(2, 1, 4, 4))
        >>> z.shape, ladj
        (torch.Size([2, 4, 2, 2]), tensor([0., 0.]))
    """

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        c, h, w = _image(shape)
        if h % 2 or w % 2:
            raise ValueError(f"Squeeze: expected even height and width; got {(c, h, w)}")
        self.event_shape = (c, h, w)

    @property
    def latent_shape(self) -> Shape:
        c, h, w = self.event_shape
        return (4 * c, h // 2, w // 2)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        c, h, w = self.event_shape
        batch = batch_shape(x, 3)
        y = x.reshape(*batch, c, h // 2, 2, w // 2, 2)
        n = len(batch)
        y = y.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
        return y.reshape(*batch, *self.latent_shape), x.new_zeros(batch)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        c, h, w = self.event_shape
        batch = batch_shape(z, 3)
        y = z.reshape(*batch, c, 2, 2, h // 2, w // 2)
        n = len(batch)
        y = y.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
        return y.reshape(*batch, c, h, w), z.new_zeros(batch)


class Flatten(Transform):
    """(C, H, W) -> (C H W) in (C, H, W) order, for a transform of vectors after it (a
    continuous flow's field on images sees them whole again). ladj = 0.

    Args:
        shape: the image shape (C, H, W).

    Example:
        >>> import torch, bijective as bj
        >>> bj.transforms.Flatten((1, 2, 2))(torch.randn(3, 1, 2, 2))[0].shape
        torch.Size([3, 4])
    """

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.event_shape = _image(shape)

    @property
    def latent_shape(self) -> Shape:
        return (math.prod(self.event_shape),)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        batch = batch_shape(x, 3)
        return x.reshape(*batch, -1), x.new_zeros(batch)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        batch = batch_shape(z, 1)
        return z.reshape(*batch, *self.event_shape), z.new_zeros(batch)


class Conv1x1(Transform):
    """Glow's invertible 1x1 convolution: z[:, h, w] = W x[:, h, w] at every pixel, with
    ladj = H W log|det W|. `lu=False` learns W itself (log|det| by slogdet, O(C^3));
    `lu=True` learns W = P L (U + diag(s)) (P fixed), so log|det W| = sum log|s|.
    Initialised from a random rotation (ladj 0 at the start).

    Args:
        shape: the image shape (C, H, W).
        lu: learn W through its LU decomposition (O(C) log-det) rather than W itself.
        generator: draws the random rotation it starts from.

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.Conv1x1((3, 4, 4))
        >>> x = torch.randn(2, 3, 4, 4)
        >>> z, ladj = f(x)
        >>> torch.allclose(f.inverse(z)[0], x, atol=1e-5)
        True
    """

    def __init__(
        self, shape: Sequence[int], lu: bool = True, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        c, h, w = _image(shape)
        self.event_shape = (c, h, w)
        self.pixels = h * w
        self.lu = lu
        rotation = random_rotation(c, generator)
        if lu:
            init_lu(self, rotation)
        else:
            self.weight = nn.Parameter(rotation)

    def matrix(self) -> Tensor:
        """W, (C, C)."""
        if self.lu:
            return lu_weight(self.p, self.lower, self.upper, self.sign_s, self.log_abs_s)
        return self.weight

    def _log_abs_det(self) -> Tensor:
        return self.log_abs_s.sum() if self.lu else torch.linalg.slogdet(self.weight)[1]

    def _mix(self, x: Tensor, matrix: Tensor, sign: float) -> tuple[Tensor, Tensor]:
        z = torch.einsum("dc,...chw->...dhw", matrix, x)
        ladj = (sign * self.pixels * self._log_abs_det()).expand(batch_shape(x, 3))
        return z, ladj

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._mix(x, self.matrix(), 1.0)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._mix(z, torch.linalg.inv(self.matrix()), -1.0)


class ConvCoupling(Coupling):
    """A coupling on images whose conditioner is a ResNet (`channels` wide, `blocks`
    residual blocks, last layer zero-initialised): the kept part, with the mask as an
    extra channel, predicts the changed part's parameters. `kind` 'affine' (RealNVP,
    Glow; log-scale soft-clamped at `clamp`) or 'additive' (NICE); `mask` from
    masks.checkerboard or masks.channel. `context_channels` Cc makes it conditional on an
    image context (Cc, H, W), passed flat as context (*batch, Cc H W).

    Args:
        mask: bool (C, H, W), True on the kept part (masks.checkerboard, masks.channel).
        kind: "affine" or "additive".
        channels: the ResNet conditioner's width.
        blocks: its residual blocks.
        clamp: the soft clamp of the log-scale ("affine").
        context_channels: Cc, the channels of an image context (0: none).

    Example:
        >>> import torch, bijective as bj
        >>> mask = bj.transforms.masks.checkerboard((2, 4, 4))
        >>> f = bj.transforms.ConvCoupling(mask, channels=8, blocks=1)
        >>> x = torch.randn(3, 2, 4, 4)
        >>> z, ladj = f(x)
        >>> torch.allclose(f.inverse(z)[0], x, atol=1e-6)
        True
    """

    def __init__(
        self,
        mask: Tensor,
        kind: CouplingKind = "affine",
        channels: int = 64,
        blocks: int = 2,
        clamp: float = 5.0,
        context_channels: int = 0,
    ) -> None:
        if kind not in ("affine", "additive"):
            raise ValueError(f"ConvCoupling: expected kind 'affine' or 'additive'; got {kind!r}")
        transformer = AffineTransformer(clamp) if kind == "affine" else AdditiveTransformer()
        _, h, w = _image(tuple(mask.shape))
        conditioner = MaskedConvConditioner(
            mask,
            transformer.params,
            channels=channels,
            blocks=blocks,
            context_channels=context_channels,
        )
        super().__init__(mask, transformer, conditioner, context=context_channels * h * w)


class MultiScale(Transform):
    """The multi-scale architecture: the `scales` transforms run in turn; after every one
    but the last, half the channels are factored out. They leave the flow and are scored by
    the base at once (the latent is the flat concatenation of every factored-out part and
    the last scale's output, so base = StandardNormal(C H W)).

    With `prior='learned'` (Glow), before each split an affine ConvCoupling on a channel
    mask maps the leaving half z2 to (z2 - mu(z1)) / sigma(z1): scoring that with N(0, I)
    is scoring z2 with the learned prior N(mu(z1), sigma(z1)^2) (zero-initialised:
    N(0, I) at the start). `prior='standard'` scores z2 with N(0, I) directly.
    x (*batch, C, H, W) -> z (*batch, C H W); ladj the sum over scales and priors.

    Args:
        scales: one transform per scale, each on the shape the scale before leaves (a
            squeeze first, where it halves H and W).
        prior: "learned" (Glow's conditional prior on the leaving half) or "standard".
        channels: the learned prior's ResNet width.
        blocks: its residual blocks.

    Example:
        >>> import torch, bijective as bj
        >>> T = bj.transforms
        >>> first = T.Compose(T.Squeeze((1, 8, 8)), T.ActNorm((4, 4, 4)))
        >>> second = T.Compose(T.Squeeze((2, 4, 4)), T.ActNorm((8, 2, 2)))
        >>> f = T.MultiScale([first, second], channels=8, blocks=1)
        >>> z, ladj = f(torch.randn(2, 1, 8, 8))
        >>> z.shape  # flat: every factored-out half and the last scale's output
        torch.Size([2, 64])
    """

    def __init__(
        self,
        scales: Sequence[Transform],
        prior: Prior = "learned",
        channels: int = 64,
        blocks: int = 2,
    ) -> None:
        super().__init__()
        if prior not in ("learned", "standard"):
            raise ValueError(f"MultiScale: expected prior 'learned' or 'standard'; got {prior!r}")
        self.scales = nn.ModuleList(scales)
        # Weights saved when this list was called `levels` load under the new name.
        self._register_load_state_dict_pre_hook(_renamed_levels)
        self.event_shape = scales[0].event_shape
        shapes, priors = [], []
        for i, scale in enumerate(scales):
            shape = scale.latent_shape
            if i + 1 < len(scales):
                if shape[0] % 2:
                    raise ValueError(f"MultiScale: scale {i} outputs {shape}: odd channels")
                nxt = scales[i + 1].event_shape
                if nxt != (shape[0] // 2, *shape[1:]):
                    raise ValueError(
                        f"MultiScale: scale {i} outputs {shape}, so scale {i + 1} must take "
                        f"{(shape[0] // 2, *shape[1:])}; it takes {nxt}"
                    )
                if prior == "learned":
                    priors.append(ConvCoupling(channel(shape), "affine", channels, blocks))
            shapes.append(shape)
        self.priors = nn.ModuleList(priors)
        self.shapes = shapes
        self.sizes = [s[0] // 2 * s[1] * s[2] for s in shapes[:-1]] + [math.prod(shapes[-1])]

    @property
    def latent_shape(self) -> Shape:
        return (sum(self.sizes),)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        batch = batch_shape(x, 3)
        parts, ladj = [], x.new_zeros(batch)
        for i, scale in enumerate(self.scales):
            x, term = scale._forward(x, context)
            ladj = ladj + term
            if i + 1 < len(self.scales):
                if self.priors:
                    x, term = self.priors[i]._forward(x, context)
                    ladj = ladj + term
                x, leaving = x.chunk(2, dim=-3)
                parts.append(leaving.reshape(*batch, -1))
        parts.append(x.reshape(*batch, -1))
        return torch.cat(parts, -1), ladj

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        batch = z.shape[:-1]
        parts = list(z.split(self.sizes, -1))
        x = parts[-1].reshape(*batch, *self.shapes[-1])
        ladj = z.new_zeros(batch)
        for i in reversed(range(len(self.scales))):
            if i + 1 < len(self.scales):
                c, h, w = self.shapes[i]
                x = torch.cat([x, parts[i].reshape(*batch, c // 2, h, w)], -3)
                if self.priors:
                    x, term = self.priors[i]._inverse(x, context)
                    ladj = ladj + term
            x, term = self.scales[i]._inverse(x, context)
            ladj = ladj + term
        return x, ladj


def _renamed_levels(state: dict, prefix: str, *_: object) -> None:
    """A state dict from before MultiScale's `levels` became `scales`: its keys renamed."""
    old = prefix + "levels."
    for key in [k for k in state if k.startswith(old)]:
        state[prefix + "scales." + key[len(old) :]] = state.pop(key)
