"""TarFlow (Zhai et al. 2024, "Normalizing Flows are Capable Generative Models",
arXiv:2412.06329): a stack of autoregressive affine blocks over tokens (a vector's groups
of features, or an image's patches) whose conditioners are causal transformers, the token
order reversed between blocks, and a standard normal base.

    log p(x) = log N(f(x); 0, I) + sum_blocks sum_t sum_i s_ti(u_<t)

`noise` sigma > 0 is the paper's Gaussian noise augmentation, the first transform of the
chain (`NoiseAugmentation`): in train mode the blocks see x + sigma e, e ~ N(0, I), so
the flow is a model of the noisy data and its eval-mode log_prob, test NLLs included, is
that model's density. It stays first when the flow is wrapped (`dequantized` puts its
logit before it: the noise is then in the logit space). `denoise` is the paper's
score-based step for samples, x + sigma^2 grad_x log p(x) (Tweedie's formula).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..distributions import StandardNormal
from ..transforms import AffineTransformer, Compose, TokenAutoregressive, Tokens, Transform
from ..transforms.base import batch_shape
from .base import Flow


class _TokenFlow(Flow):
    """What TarFlow and ImageTarFlow share: the denoising step and classifier-free
    guidance (a context dropped to zeros in training with probability
    `guidance_dropout`; `sample(..., guidance=w)` guides the inverse of every block)."""

    def __init__(self, transform: Compose, base: StandardNormal, noise: float, drop: float) -> None:
        if not 0 <= drop <= 1:
            raise ValueError(f"TarFlow: guidance_dropout must lie in [0, 1]; got {drop}")
        super().__init__(transform, base)
        self.noise, self.guidance_dropout = noise, drop

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | context); in train mode with guidance_dropout p, each row's context
        is zero with probability p (the unconditional model classifier-free guidance
        needs)."""
        if self.training and self.guidance_dropout and context is not None:
            kept = torch.rand(context.shape[:-1], device=context.device) >= self.guidance_dropout
            context = context * kept[..., None].to(context.dtype)
        return super().log_prob(x, context)

    def sample(
        self,
        shape: Sequence[int] | int = (),
        context: Tensor | None = None,
        temperature: float = 1.0,
        *,
        guidance: float = 0.0,
    ) -> Tensor:
        """Samples (Flow.sample); `guidance` w != 0 (a conditional flow, with a context)
        inverts every block with the guided parameters theta_c + w (theta_c - theta_0)."""
        if guidance != 0 and (context is None or not math.isfinite(guidance)):
            raise ValueError(
                f"TarFlow.sample: guidance needs a context and a finite weight; got {guidance}"
            )
        blocks = [m for m in self.transform.modules() if isinstance(m, TokenAutoregressive)]
        for block in blocks:
            block.guidance = guidance
        try:
            return super().sample(shape, context, temperature)
        finally:
            for block in blocks:
                block.guidance = 0.0

    def denoise(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """x + sigma^2 grad_x log p(x | context): the paper's denoising step (the
        posterior mean of clean data given noisy x when p is the noisy data's density)."""
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            (score,) = torch.autograd.grad(self.log_prob(x, context).sum(), x)
        return (x + self.noise**2 * score).detach()


class TarFlow(_TokenFlow):
    """TarFlow on vectors: `blocks` TokenAutoregressive blocks over D / `token` tokens of
    `token` consecutive features, alternately read first-to-last and last-to-first.
    x (*batch, D) -> log p (*batch).

    Args:
        features: D.
        context: C, the size of the context vector of a conditional flow (0: none).
        blocks: the autoregressive blocks.
        token: the features per token (dividing D).
        width: each block's transformer width.
        depth: each block's transformer blocks.
        heads: its attention heads.
        noise: sigma of the Gaussian noise augmentation in training (0: none).
        dropout: the transformers' dropout (train mode only).
        guidance_dropout: the probability that a row's context is zeroed in training.

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.TarFlow(features=4, blocks=2, token=2, width=16, depth=1, heads=2)
        >>> flow.log_prob(torch.randn(8, 4)).shape
        torch.Size([8])
        >>> flow.sample((3,)).shape  # token by token, with a key-value cache
        torch.Size([3, 4])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        blocks: int = 4,
        token: int = 1,
        width: int = 64,
        depth: int = 2,
        heads: int = 4,
        noise: float = 0.0,
        dropout: float = 0.0,
        guidance_dropout: float = 0.0,
    ) -> None:
        tokens = Tokens((features,), token)
        chain = _blocks(tokens, context, blocks, width, depth, heads, noise, dropout)
        super().__init__(chain, StandardNormal(features), noise=noise, drop=guidance_dropout)


class ImageTarFlow(_TokenFlow):
    """TarFlow on images (C, H, W): blocks over the (H/p)(W/p) patches of p x p pixels in
    raster order (C p^2 values each), alternately reversed. x (*batch, C, H, W) -> (*batch).

    Args:
        shape: the image shape (C, H, W).
        context: C', the size of the context vector (a one-hot class; 0: none).
        blocks: the autoregressive blocks.
        patch: p, the patch side (dividing H and W).
        width: each block's transformer width.
        depth: each block's transformer blocks.
        heads: its attention heads.
        noise: sigma of the Gaussian noise augmentation in training (0: none).
        dropout: the transformers' dropout (train mode only).
        guidance_dropout: the probability that a row's context is zeroed in training.

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.ImageTarFlow((1, 4, 4), blocks=2, patch=2, width=16, depth=1, heads=2)
        >>> flow.log_prob(torch.randn(2, 1, 4, 4)).shape
        torch.Size([2])
    """

    def __init__(
        self,
        shape: Sequence[int],
        context: int = 0,
        blocks: int = 4,
        patch: int = 2,
        width: int = 64,
        depth: int = 2,
        heads: int = 4,
        noise: float = 0.0,
        dropout: float = 0.0,
        guidance_dropout: float = 0.0,
    ) -> None:
        tokens = Tokens(shape, patch=patch)
        chain = _blocks(tokens, context, blocks, width, depth, heads, noise, dropout)
        super().__init__(chain, StandardNormal(tuple(shape)), noise=noise, drop=guidance_dropout)


class NoiseAugmentation(Transform):
    """The identity, except that in train mode forward returns x + sigma e, e ~ N(0, I)
    (log-det 0): Gaussian noise augmentation as the first transform of a flow, so that a
    flow trained through it models the noisy data. Not a bijection in train mode: invert
    in eval mode.

    Args:
        event_shape: the shape of one x.
        sigma: the noise's standard deviation, >= 0.

    Example:
        >>> import torch, bijective as bj
        >>> noise = bj.flows.tarflow.NoiseAugmentation((2,), 0.1).eval()
        >>> noise(torch.ones(1, 2))[0]  # eval mode: the identity
        tensor([[1., 1.]])
    """

    def __init__(self, event_shape: Sequence[int], sigma: float) -> None:
        super().__init__()
        if not sigma >= 0:  # NaN too
            raise ValueError(f"TarFlow: noise must be a standard deviation >= 0; got {sigma}")
        self.event_shape, self.context_features, self.sigma = tuple(event_shape), None, sigma

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        ladj = x.new_zeros(batch_shape(x, len(self.event_shape)))
        return (x + self.sigma * torch.randn_like(x) if self.training else x), ladj

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return z, z.new_zeros(batch_shape(z, len(self.event_shape)))


def _blocks(
    tokens: Tokens,
    context: int,
    blocks: int,
    width: int,
    depth: int,
    heads: int,
    noise: float,
    dropout: float,
) -> Compose:
    if blocks < 1:
        raise ValueError(f"TarFlow: expected blocks >= 1; got {blocks}")
    steps = [
        TokenAutoregressive(
            tokens,
            AffineTransformer(),
            width=width,
            depth=depth,
            heads=heads,
            context=context,
            reverse=i % 2 == 1,
            dropout=dropout,
        )
        for i in range(blocks)
    ]
    augmentation = NoiseAugmentation(tokens.event_shape, noise)
    return Compose(*([augmentation] if noise else []), *steps)
