"""Coupling layers: mask + conditioner + element-wise transformer, in one class."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn import MLP
from ..validation import after_load, as_shape
from .base import Transform
from .transformers import AdditiveTransformer, AffineTransformer, Transformer


class Coupling(Transform):
    """z_B = x_B, z_A = tau(x_A; theta), theta = conditioner(x_B, context).

    Dinh et al. 2015 (NICE, arXiv:1410.8516) and 2017 (RealNVP, arXiv:1605.08803). `mask`
    (bool, the event shape) is True on the kept part B and False on the transformed part A.
    The Jacobian is triangular, so ladj = sum over A of log|d tau / d x_A|.

    `transformer` is the element-wise map tau: AdditiveTransformer, AffineTransformer or
    SplineTransformer.
    `conditioner` maps x_B (*batch, |B|) and the context to (*batch, |A| * transformer.params);
    by default it is an MLP with `hidden` layers whose last layer starts at zero, so the
    layer starts as the identity (`dropout` in it is active in train mode only: invert in
    eval mode). A conditioner of your own must take (x_B, context); pass
    `context=C` when it reads a context of size C, so inputs are validated against it.

    Args:
        mask: bool, the event shape; True on the kept part B (masks.half, masks.alternating,
            masks.random, masks.checkerboard).
        transformer: the element-wise map of the changed part A (AdditiveTransformer,
            AffineTransformer, SplineTransformer).
        conditioner: maps (x_B (*batch, |B|), context) to (*batch, |A| * transformer.params);
            an MLP with `hidden` layers if None.
        hidden: the default conditioner's hidden sizes.
        context: C, the size of the context vector the conditioner reads (0: none).
        dropout: the default conditioner's dropout rate (train mode only).

    Example:
        >>> import torch, bijective as bj
        >>> T = bj.transforms
        >>> f = T.Coupling(T.masks.half(4), T.SplineTransformer(bins=5), hidden=(16,), context=2)
        >>> x, c = torch.randn(3, 4), torch.randn(3, 2)
        >>> z, ladj = f(x, c)
        >>> torch.allclose(f.inverse(z, c)[0], x, atol=1e-5)
        True
    """

    def __init__(
        self,
        mask: Tensor,
        transformer: Transformer,
        conditioner: nn.Module | None = None,
        hidden: Sequence[int] = (64, 64),
        context: int = 0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        self.event_shape = tuple(mask.shape)
        self.context_features = context
        self.transformer = transformer
        flat = mask.flatten()
        kept, changed = flat.nonzero().squeeze(-1), (~flat).nonzero().squeeze(-1)
        if kept.numel() == 0 or changed.numel() == 0:
            raise ValueError(
                "Coupling: the mask must keep some entries (True) and transform others (False); "
                f"got {int(flat.sum())} of {flat.numel()} kept"
            )
        self.register_buffer("mask", mask)
        self.register_buffer("kept", kept)
        self.register_buffer("changed", changed)
        self.register_buffer("unsort", torch.argsort(torch.cat([kept, changed])))
        self._after_load()
        self.register_load_state_dict_post_hook(after_load)
        if conditioner is None:
            out = changed.numel() * transformer.params
            conditioner = MLP(kept.numel(), out, hidden, context, dropout=dropout)
        self.conditioner = conditioner

    def _after_load(self) -> None:
        # Two contiguous halves, or entries alternating, are split and merged by views,
        # split/cat and unbind/stack, whose backward passes need no gather, no scatter
        # and no zero-filled buffers; other masks gather by index.
        kept, changed = self.kept.cpu(), self.changed.cpu()
        n, first = kept.numel() + changed.numel(), bool(kept[0] == 0)
        a, b = (kept, changed) if first else (changed, kept)  # a holds entry 0
        self._layout: tuple[str, bool, int] | None = None
        if torch.equal(torch.cat([a, b]), torch.arange(n)):
            self._layout = ("halves", first, a.numel())
        elif (
            n % 2 == 0
            and torch.equal(a, torch.arange(0, n, 2))
            and torch.equal(b, torch.arange(1, n, 2))
        ):
            self._layout = ("alternating", first, a.numel())

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        flat = x.flatten(x.dim() - len(self.event_shape))
        if self._layout is None:
            return flat[..., self.kept], flat[..., self.changed]
        kind, first, size = self._layout
        if kind == "halves":
            a, b = flat.split([size, flat.shape[-1] - size], -1)
        else:
            a, b = flat.unflatten(-1, (size, 2)).unbind(-1)
        return (a, b) if first else (b, a)

    def _merge(self, kept: Tensor, changed: Tensor, shape: torch.Size) -> Tensor:
        if self._layout is None:
            return torch.cat([kept, changed], dim=-1)[..., self.unsort].reshape(shape)
        kind, first, _ = self._layout
        a, b = (kept, changed) if first else (changed, kept)
        if kind == "halves":
            return torch.cat([a, b], -1).reshape(shape)
        return torch.stack([a, b], -1).flatten(-2).reshape(shape)

    def _params(self, kept: Tensor, context: Tensor | None) -> Tensor:
        params = self.conditioner(kept, context)
        return params.unflatten(-1, (self.changed.numel(), self.transformer.params))

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        kept, changed = self._split(x)
        changed, logd = self.transformer.forward(changed, self._params(kept, context))
        return self._merge(kept, changed, x.shape), logd.sum(-1)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        kept, changed = self._split(z)
        changed, logd = self.transformer.inverse(changed, self._params(kept, context))
        return self._merge(kept, changed, z.shape), logd.sum(-1)


def _checked_mask(name: str, features: int | Sequence[int], mask: Tensor) -> Tensor:
    shape = as_shape(features)
    mask = torch.as_tensor(mask, dtype=torch.bool)
    if tuple(mask.shape) != shape:
        raise ValueError(f"{name}: expected a mask of shape {shape}; got {tuple(mask.shape)}")
    return mask


class AdditiveCoupling(Coupling):
    """The NICE coupling (Dinh et al. 2015): Coupling with an additive transformer,
    z_A = x_A + t(x_B); ladj = 0. End a NICE flow with `Affine(features, shift=False)`,
    the paper's diagonal scaling layer: without it the flow cannot change volume.

    Args:
        features: D, or the event shape.
        mask: bool, True on the kept part.
        hidden: the conditioner's hidden sizes.
        context: C, the size of the context vector (0: none).
        dropout: the conditioner's dropout rate (train mode only).

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.AdditiveCoupling(4, bj.transforms.masks.alternating(4))
        >>> z, ladj = f(torch.randn(3, 4))
        >>> ladj  # volume preserving
        tensor([0., 0., 0.])
    """

    def __init__(
        self,
        features: int | Sequence[int],
        mask: Tensor,
        hidden: Sequence[int] = (64, 64),
        context: int = 0,
        dropout: float = 0.0,
    ) -> None:
        mask = _checked_mask("AdditiveCoupling", features, mask)
        super().__init__(mask, AdditiveTransformer(), None, hidden, context, dropout)


class AffineCoupling(Coupling):
    """The RealNVP coupling (Dinh et al. 2017): Coupling with an affine transformer,
    z_A = x_A * exp(s(x_B)) + t(x_B) with a soft-clamped s; ladj = sum(s).

    Args:
        features: D, or the event shape.
        mask: bool, True on the kept part.
        hidden: the conditioner's hidden sizes.
        context: C, the size of the context vector (0: none).
        clamp: the soft clamp of the log-scale, |s| < clamp.
        dropout: the conditioner's dropout rate (train mode only).

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.AffineCoupling(4, bj.transforms.masks.half(4), hidden=(16,))
        >>> x = torch.randn(3, 4)
        >>> z, ladj = f(x)
        >>> torch.allclose(f.inverse(z)[0], x, atol=1e-6)
        True
    """

    def __init__(
        self,
        features: int | Sequence[int],
        mask: Tensor,
        hidden: Sequence[int] = (64, 64),
        context: int = 0,
        clamp: float = 5.0,
        dropout: float = 0.0,
    ) -> None:
        mask = _checked_mask("AffineCoupling", features, mask)
        super().__init__(mask, AffineTransformer(clamp), None, hidden, context, dropout)
