"""The transform contract (data x -> latent z), its inverse view, and composition."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn

from ..validation import Shape, check_context, check_event, validation_enabled

# True while the caller discards the log-dets (Flow.sample, encode, decode): a transform
# whose log-det costs work of its own (ContinuousFlow's trace) may then return zeros. A
# module global, as nn.precision's: torch.compile guards it as a constant.
_LOGDET_DISCARDED = False


@contextlib.contextmanager
def logdet_discarded() -> Iterator[None]:
    """Inside, transforms may return 0 for log|det df/dx| (their outputs stay exact):
    for callers that keep only x or z."""
    global _LOGDET_DISCARDED
    previous, _LOGDET_DISCARDED = _LOGDET_DISCARDED, True
    try:
        yield
    finally:
        _LOGDET_DISCARDED = previous


def logdet_is_discarded() -> bool:
    return _LOGDET_DISCARDED


def sum_event(values: Tensor, event_dims: int) -> Tensor:
    """Sums the last `event_dims` dimensions: per-entry log-derivatives -> ladj[batch]."""
    if event_dims == 0:
        return values
    return values.sum(dim=tuple(range(-event_dims, 0)))


def batch_shape(x: Tensor, event_dims: int) -> torch.Size:
    return x.shape[: x.dim() - event_dims]


def empty_batch(x: Tensor, event_shape: Shape | None, out_shape: Shape | None) -> bool:
    """Whether x (*batch, *event_shape) has no rows (and known shapes to answer with):
    then a public method returns empty outputs without running (or initialising) a layer."""
    return x.numel() == 0 and event_shape is not None and out_shape is not None


def empty_outputs(x: Tensor, event_shape: Shape, out_shape: Shape) -> tuple[Tensor, Tensor]:
    """(*batch, *out_shape) and a (*batch) ladj, both empty, for x (*batch, *event_shape)."""
    batch = batch_shape(x, len(event_shape))
    return x.new_zeros(*batch, *out_shape), x.new_zeros(batch)


class Transform(nn.Module):
    """A bijection f from data x to latent z: the normalizing direction (as nflows, zuko).

    forward(x, context=None) -> (z, ladj): z = f(x), ladj = log|det df/dx|, shape = batch shape.
    inverse(z, context=None) -> (x, ladj): x = f^{-1}(z), ladj = log|det df^{-1}/dz|, which is
    -ladj of forward at the paired point. Sampling a flow runs `inverse`.

    A subclass implements `_forward` and `_inverse` with these signatures and sets, in its
    constructor:
      event_shape      shape of one x, or None for a transform that accepts any shape;
      context_features size C of the context vector its conditioner reads, 0 if it has a
                       conditioner built without context, None if it has none (then any
                       context is accepted and ignored).
    `latent_shape` (shape of one z) defaults to `event_shape`; shape-changing transforms
    override it. The public methods validate input once and call the underscored ones
    (an empty batch returns empty outputs without calling them, so no layer initialises or
    updates statistics on zero rows); compositions call the underscored methods of their
    parts.

    Example:
        A bijection of your own: z = x + b, ladj 0.

        >>> import torch, bijective as bj
        >>> class Shift(bj.transforms.Transform):
        ...     def __init__(self, features):
        ...         super().__init__()
        ...         self.event_shape, self.context_features = (features,), None
        ...         self.b = torch.nn.Parameter(torch.randn(features))
        ...     def _forward(self, x, context):
        ...         return x + self.b, x.new_zeros(x.shape[:-1])
        ...     def _inverse(self, z, context):
        ...         return z - self.b, z.new_zeros(z.shape[:-1])
        >>> z, ladj = Shift(3)(torch.randn(5, 3))
        >>> z.shape, ladj.shape
        (torch.Size([5, 3]), torch.Size([5]))
    """

    event_shape: Shape | None = None
    context_features: int | None = None

    @property
    def latent_shape(self) -> Shape | None:
        return self.event_shape

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if validation_enabled():
            where = f"{type(self).__name__}.forward"
            batch = check_event(where, "x", x, self.event_shape)
            check_context(where, context, self.context_features, batch)
        if empty_batch(x, self.event_shape, self.latent_shape):
            return empty_outputs(x, self.event_shape, self.latent_shape)
        return self._forward(x, context)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if validation_enabled():
            where = f"{type(self).__name__}.inverse"
            batch = check_event(where, "z", z, self.latent_shape)
            check_context(where, context, self.context_features, batch)
        if empty_batch(z, self.latent_shape, self.event_shape):
            return empty_outputs(z, self.latent_shape, self.event_shape)
        return self._inverse(z, context)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    @property
    def inv(self) -> Transform:
        """The inverse f^{-1} as a Transform: a view sharing this one's parameters."""
        return Inverse(self)


class Inverse(Transform):
    """The inverse view of a transform: forward runs its `inverse` and vice versa.

    Args:
        transform: the transform to run backwards.

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.Exp(2)
        >>> g = bj.transforms.Inverse(f)  # z = log x; also f.inv
        >>> z, ladj = g(torch.tensor([[1.0, 2.0]]))
        >>> z
        tensor([[0.0000, 0.6931]])
    """

    def __init__(self, transform: Transform) -> None:
        super().__init__()
        self.transform = transform

    @property
    def event_shape(self) -> Shape | None:  # type: ignore[override]
        return self.transform.latent_shape

    @property
    def latent_shape(self) -> Shape | None:
        return self.transform.event_shape

    @property
    def context_features(self) -> int | None:  # type: ignore[override]
        return self.transform.context_features

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self.transform._inverse(x, context)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self.transform._forward(z, context)

    @property
    def inv(self) -> Transform:
        return self.transform


def _first_known(shapes: Iterable[Shape | None]) -> Shape | None:
    # Shape-agnostic parts (None) preserve shape, so the first declared shape is the outer one.
    return next((s for s in shapes if s is not None), None)


class Compose(Transform):
    """f = f_n o ... o f_1 (applied left to right, data to latent); ladj = sum of the parts'.

    Args:
        *transforms: the parts, first applied first in the forward (data to latent) direction.

    Example:
        >>> import torch, bijective as bj
        >>> T = bj.transforms
        >>> f = T.Compose(T.ActNorm(2), T.LULinear(2), T.Tanh(2))
        >>> x = torch.randn(4, 2)
        >>> z, ladj = f(x)
        >>> torch.allclose(f.inverse(z)[0], x, atol=1e-4)
        True
    """

    def __init__(self, *transforms: Transform) -> None:
        super().__init__()
        if not transforms:
            raise ValueError("Compose: expected at least one transform; got none")
        for i, t in enumerate(transforms):
            if not isinstance(t, Transform):
                raise TypeError(
                    f"Compose: expected Transform arguments; argument {i} is {type(t).__name__}"
                )
        for i, (a, b) in enumerate(itertools.pairwise(transforms)):
            if None not in (a.latent_shape, b.event_shape) and a.latent_shape != b.event_shape:
                raise ValueError(
                    f"Compose: transform {i} outputs events of shape {a.latent_shape} but "
                    f"transform {i + 1} expects {b.event_shape}"
                )
        sizes = {t.context_features for t in transforms} - {None}
        if len(sizes) > 1:
            raise ValueError(
                f"Compose: the transforms expect different context sizes {sorted(sizes)}"
            )
        self.transforms = nn.ModuleList(transforms)
        self.event_shape = _first_known(t.event_shape for t in transforms)
        self._latent_shape = _first_known(t.latent_shape for t in reversed(transforms))
        self.context_features = sizes.pop() if sizes else None

    @property
    def latent_shape(self) -> Shape | None:
        return self._latent_shape

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        ladj = 0
        for t in self.transforms:
            x, term = t._forward(x, context)
            ladj = ladj + term
        return x, ladj

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        ladj = 0
        for t in reversed(self.transforms):
            z, term = t._inverse(z, context)
            ladj = ladj + term
        return z, ladj

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, index: int) -> Transform:
        return self.transforms[index]
