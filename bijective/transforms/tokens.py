"""An autoregressive transform over tokens whose conditioner is a causal transformer: the
block of TarFlow (Zhai et al. 2024, "Normalizing Flows are Capable Generative Models").

The event (a vector, or an image) is cut into T tokens of d values (`Tokens`: groups of
consecutive features, or p x p patches of an image), u = (u_1 .. u_T), reversed when
`reverse` (TarFlow alternates the order between blocks). Then, per token,

    z_t = tau(u_t; theta_t),   theta_t = Head(g_t),   g = CausalTransformer(E u_{t-1} + P_t + U c)

with u_0 = 0, so theta_t reads u_<t only: a triangular Jacobian, log|det| = sum_t sum_i
log|tau'(u_ti)|. The density direction is one pass; the inverse solves token by token,
the transformer keeping the keys and values of the tokens solved (T steps of O(t)).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn.transformer import CausalTransformer, KeyValueCache
from .base import Transform, batch_shape
from .transformers import Transformer


class Tokens:
    """The cut of an event into T tokens of d values and back: `patch` None groups a
    vector's D features into D / `size` tokens of `size` consecutive features; an image
    (C, H, W) with `patch` p is cut into (H/p)(W/p) patches of C p^2 values, raster order.

    Args:
        event_shape: (D,) or (C, H, W).
        size: the features per token of a vector.
        patch: the patch side p of an image (None for a vector).

    Example:
        >>> import torch, bijective as bj
        >>> tokens = bj.transforms.Tokens((1, 4, 4), patch=2)
        >>> x = torch.arange(16.0).view(1, 1, 4, 4)
        >>> tokens.split(x)[0, 0]  # the top-left 2x2 patch
        tensor([0., 1., 4., 5.])
        >>> torch.equal(tokens.join(tokens.split(x)), x)
        True
    """

    def __init__(self, event_shape: Sequence[int], size: int = 1, patch: int | None = None) -> None:
        self.event_shape = tuple(event_shape)
        if patch is None:
            (d,) = self.event_shape if len(self.event_shape) == 1 else (None,)
            if d is None or size < 1 or d % size:
                raise ValueError(
                    f"Tokens: a token of {size} features must divide a vector's {event_shape}"
                )
            self.count, self.size = d // size, size
        else:
            c, h, w = self.event_shape if len(self.event_shape) == 3 else (0, 0, 0)
            if not c or patch < 1 or h % patch or w % patch:
                raise ValueError(
                    f"Tokens: a patch of {patch} must divide the height and width of an "
                    f"image (C, H, W); got {event_shape}"
                )
            self.count, self.size = (h // patch) * (w // patch), c * patch * patch
        self.patch = patch

    def split(self, x: Tensor) -> Tensor:
        """(N, *event) -> (N, T, d)."""
        if self.patch is None:
            return x.reshape(x.shape[0], self.count, self.size)
        n, (c, h, w), p = x.shape[0], self.event_shape, self.patch
        u = x.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return u.reshape(n, self.count, self.size)

    def join(self, u: Tensor) -> Tensor:
        """(N, T, d) -> (N, *event)."""
        if self.patch is None:
            return u.reshape(u.shape[0], *self.event_shape)
        n, (c, h, w), p = u.shape[0], self.event_shape, self.patch
        x = u.reshape(n, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(n, c, h, w)


class TokenAutoregressive(Transform):
    """A TarFlow block (see the module's docstring): z_t = tau(u_t; theta(u_<t, c)) over
    the tokens of x, conditioned by a causal transformer; its head starts at zero, so the
    block starts as the identity. forward: one pass; inverse: T cached steps.

    Args:
        tokens: how x is cut into tokens (bijective.transforms.Tokens).
        transformer: the element-wise map (AffineTransformer, SplineTransformer, ...).
        width: the transformer's width.
        depth: its blocks.
        heads: its attention heads.
        context: C, the size of the context vector (0: none).
        reverse: read the tokens last to first.
        dropout: the transformer's dropout (train mode only; invert in eval mode).

    `guidance` w (an attribute, 0 unless a sampler sets it, e.g. TarFlow.sample): the
    inverse takes each token's parameters as theta_c + w (theta_c - theta_0), theta_0
    from a zero context (classifier-free guidance, Ho & Salimans 2022, as TarFlow applies
    it to its affine parameters); it is then no longer the inverse of the conditional map.

    Example:
        >>> import torch, bijective as bj
        >>> T = bj.transforms
        >>> block = T.TokenAutoregressive(T.Tokens((6,), size=2), T.AffineTransformer(),
        ...                               width=8, depth=1, heads=2)
        >>> x = torch.randn(4, 6)
        >>> z, ladj = block(x)  # one pass
        >>> torch.allclose(block.inverse(z)[0], x, atol=1e-5)  # token by token
        True
    """

    def __init__(
        self,
        tokens: Tokens,
        transformer: Transformer,
        width: int = 64,
        depth: int = 2,
        heads: int = 4,
        context: int = 0,
        reverse: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.event_shape, self.context_features = tokens.event_shape, context
        self.tokens, self.transformer, self.reverse = tokens, transformer, reverse
        self.network = CausalTransformer(width, depth, heads, dropout)
        self.embed = nn.Linear(tokens.size, width)
        self.position = nn.Parameter(0.02 * torch.randn(tokens.count, width))
        self.context_net = nn.Linear(context, width) if context else None
        self.head = nn.Linear(width, tokens.size * transformer.params)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.guidance = 0.0

    def _params(
        self,
        previous: Tensor,
        start: int,
        context: Tensor | None,
        cache: KeyValueCache | None = None,
    ) -> Tensor:
        """The tokens before positions start .. start + t - 1 (N, t, d) -> theta (N, t, d, P)."""
        h = self.embed(previous) + self.position[start : start + previous.shape[1]]
        if self.context_net is not None:
            h = h + self.context_net(context)[:, None]
        theta = self.head(self.network(h, cache))
        return theta.view(*previous.shape, self.transformer.params)

    def _ordered(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor | None, tuple]:
        """x (*batch, *event) -> its tokens (N, T, d), last first when `reverse`, the
        context as (N, C), and the batch shape."""
        batch = batch_shape(x, len(self.event_shape))
        u = self.tokens.split(x.reshape(-1, *self.event_shape))
        if context is not None:
            context = context.expand(*batch, -1).reshape(-1, context.shape[-1])
        return (u.flip(1) if self.reverse else u), context, batch

    def _restored(self, u: Tensor, batch: tuple) -> Tensor:
        u = u.flip(1) if self.reverse else u
        return self.tokens.join(u).reshape(*batch, *self.event_shape)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        u, c, batch = self._ordered(x, context)
        previous = torch.cat([torch.zeros_like(u[:, :1]), u[:, :-1]], 1)
        z, logd = self.transformer.forward(u, self._params(previous, 0, c))
        return self._restored(z, batch), logd.sum((1, 2)).reshape(batch)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        zu, c, batch = self._ordered(z, context)
        guided = self.guidance != 0 and c is not None
        caches = [KeyValueCache(len(self.network.blocks)) for _ in range(1 + guided)]
        previous, solved, logd = torch.zeros_like(zu[:, :1]), [], []
        for t in range(self.tokens.count):
            theta = self._params(previous, t, c, caches[0])
            if guided:
                free = self._params(previous, t, torch.zeros_like(c), caches[1])
                theta = theta + self.guidance * (theta - free)
            previous, log_t = self.transformer.inverse(zu[:, t : t + 1], theta)
            solved.append(previous)
            logd.append(log_t)
        ladj = torch.cat(logd, 1).sum((1, 2))
        return self._restored(torch.cat(solved, 1), batch), ladj.reshape(batch)
