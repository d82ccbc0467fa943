"""Element-wise bijections z_i = g(x_i): ladj = sum_i log|g'(x_i)| over the event."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..validation import as_shape
from .base import Transform, sum_event


class Elementwise(Transform):
    """Applies a scalar bijection g to every entry of an event of shape `shape`.

    Subclasses give `_map(x) -> (g(x), log|g'(x)|)` and `_unmap(z) -> (g^{-1}(z),
    log|(g^{-1})'(z)|)`, entry by entry; this class sums over the event dimensions.

    Args:
        shape: the event shape; the map applies to each of its entries.

    Example:
        A scalar bijection of your own, g(x) = x^3 + x:

        >>> import torch, bijective as bj
        >>> class Cubic(bj.transforms.Elementwise):
        ...     def _map(self, x):
        ...         return x**3 + x, (3 * x**2 + 1).log()
        ...     def _unmap(self, z):
        ...         raise NotImplementedError  # a root of a cubic; omitted here
        >>> z, ladj = Cubic(2)(torch.tensor([[1.0, 0.0]]))
        >>> z, ladj
        (tensor([[2., 0.]]), tensor([1.3863]))
    """

    def __init__(self, shape: int | Sequence[int]) -> None:
        super().__init__()
        self.event_shape = as_shape(shape)

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        z, logd = self._map(x)
        return z, sum_event(logd, len(self.event_shape))

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        x, logd = self._unmap(z)
        return x, sum_event(logd, len(self.event_shape))


class Affine(Elementwise):
    """z = x * exp(log_scale) + shift, learnable per entry; ladj = sum(log_scale).

    Starts as the identity. With shift fixed at zero this is the diagonal scaling layer that
    ends a NICE flow (Dinh et al. 2015, arXiv:1410.8516, section 3.3).

    Args:
        shape: the event shape (one scale, and shift, per entry).
        shift: whether the shift is learned; False keeps it at zero (NICE's scaling layer).

    Example:
        >>> import torch, bijective as bj
        >>> scale = bj.transforms.Affine(3, shift=False)
        >>> z, ladj = scale(torch.randn(4, 3))
        >>> ladj.detach()  # starts as the identity
        tensor([0., 0., 0., 0.])
    """

    def __init__(self, shape: int | Sequence[int], shift: bool = True) -> None:
        super().__init__(shape)
        self.log_scale = nn.Parameter(torch.zeros(self.event_shape))
        self.shift = nn.Parameter(torch.zeros(self.event_shape)) if shift else None

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = x * self.log_scale.exp()
        if self.shift is not None:
            z = z + self.shift
        return z, self.log_scale.expand_as(x)

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        if self.shift is not None:
            z = z - self.shift
        return z * (-self.log_scale).exp(), (-self.log_scale).expand_as(z)


class Sigmoid(Elementwise):
    """z = sigmoid(x), R -> (0, 1); log g'(x) = -softplus(-x) - softplus(x).

    Args:
        shape: the event shape.

    Example:
        >>> import torch, bijective as bj
        >>> z, ladj = bj.transforms.Sigmoid(2)(torch.tensor([[0.0, 0.0]]))
        >>> z, ladj  # sigmoid'(0) = 1/4 in each entry
        (tensor([[0.5000, 0.5000]]), tensor([-2.7726]))
    """

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.sigmoid(x), -F.softplus(-x) - F.softplus(x)

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return torch.logit(z), -torch.log(z) - torch.log1p(-z)


class Logit(Elementwise):
    """z = logit(alpha + (1 - 2 alpha) x), [0, 1] -> R: the preprocessing of image flows.

    alpha > 0 squeezes x away from 0 and 1 so z stays finite (RealNVP: alpha = 0.05,
    Dinh et al. 2017, arXiv:1605.08803, section 4.1). With p = alpha + (1 - 2 alpha) x:
    log g'(x) = log(1 - 2 alpha) - log p - log(1 - p).

    Args:
        shape: the event shape (pixels in [0, 1], or any such entries).
        alpha: the squeeze away from 0 and 1, in [0, 1/2).

    Example:
        >>> import torch, bijective as bj
        >>> z, ladj = bj.transforms.Logit(2, alpha=0.05)(torch.tensor([[0.0, 0.5]]))
        >>> z
        tensor([[-2.9444,  0.0000]])
    """

    def __init__(self, shape: int | Sequence[int], alpha: float = 0.0) -> None:
        super().__init__(shape)
        if not 0.0 <= alpha < 0.5:
            raise ValueError(f"Logit: expected 0 <= alpha < 0.5; got {alpha}")
        self.alpha = float(alpha)

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        p = self.alpha + (1 - 2 * self.alpha) * x
        return torch.logit(p), math.log1p(-2 * self.alpha) - torch.log(p) - torch.log1p(-p)

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        x = (torch.sigmoid(z) - self.alpha) / (1 - 2 * self.alpha)
        return x, -F.softplus(-z) - F.softplus(z) - math.log1p(-2 * self.alpha)


class Tanh(Elementwise):
    """z = tanh(x), R -> (-1, 1); log g'(x) = log(1 - tanh^2 x) = 2 (log 2 - x - softplus(-2x)).

    Args:
        shape: the event shape.

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.Tanh(2)
        >>> x = torch.tensor([[0.5, -1.0]])
        >>> torch.allclose(f.inverse(f(x)[0])[0], x)
        True
    """

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.tanh(x), 2 * (math.log(2) - x - F.softplus(-2 * x))

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return torch.atanh(z), -torch.log1p(-z * z)


class Softplus(Elementwise):
    """z = log(1 + e^x), R -> (0, inf); log g'(x) = log sigmoid(x) = -softplus(-x).

    Args:
        shape: the event shape.

    Example:
        >>> import torch, bijective as bj
        >>> z, ladj = bj.transforms.Softplus(1)(torch.tensor([[0.0]]))
        >>> z, ladj  # log 2, and log sigmoid(0) = -log 2
        (tensor([[0.6931]]), tensor([-0.6931]))
    """

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return F.softplus(x), -F.softplus(-x)

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        # x = log(e^z - 1) = z + log(1 - e^-z); dx/dz = 1 / (1 - e^-z)
        log1mexp = torch.log(-torch.expm1(-z))
        return z + log1mexp, -log1mexp


class LeakyReLU(Elementwise):
    """z = x for x >= 0, slope * x otherwise (slope > 0); log g'(x) = log(slope) [x < 0].

    Args:
        shape: the event shape.
        negative_slope: the slope below zero, > 0.

    Example:
        >>> import torch, bijective as bj
        >>> z, ladj = bj.transforms.LeakyReLU(2, negative_slope=0.5)(torch.tensor([[-2.0, 3.0]]))
        >>> z, ladj  # one entry below zero: log 0.5
        (tensor([[-1.,  3.]]), tensor([-0.6931]))
    """

    def __init__(self, shape: int | Sequence[int], negative_slope: float = 0.01) -> None:
        super().__init__(shape)
        if negative_slope <= 0:
            raise ValueError(f"LeakyReLU: expected negative_slope > 0; got {negative_slope}")
        self.negative_slope = float(negative_slope)

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        negative = x < 0
        z = torch.where(negative, x * self.negative_slope, x)
        return z, negative.to(x.dtype) * math.log(self.negative_slope)

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        negative = z < 0
        x = torch.where(negative, z / self.negative_slope, z)
        return x, negative.to(z.dtype) * -math.log(self.negative_slope)


class Exp(Elementwise):
    """z = exp(x), R -> (0, inf); log g'(x) = x.

    Args:
        shape: the event shape.

    Example:
        >>> import torch, bijective as bj
        >>> z, ladj = bj.transforms.Exp(2)(torch.tensor([[0.0, 1.0]]))
        >>> z, ladj
        (tensor([[1.0000, 2.7183]]), tensor([1.]))
    """

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x.exp(), x

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        x = z.log()
        return x, -x
