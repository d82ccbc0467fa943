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
    """z = sigmoid(x), R -> (0, 1); log g'(x) = -softplus(-x) - softplus(x)."""

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.sigmoid(x), -F.softplus(-x) - F.softplus(x)

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return torch.logit(z), -torch.log(z) - torch.log1p(-z)


class Logit(Elementwise):
    """z = logit(alpha + (1 - 2 alpha) x), [0, 1] -> R: the preprocessing of image flows.

    alpha > 0 squeezes x away from 0 and 1 so z stays finite (RealNVP: alpha = 0.05,
    Dinh et al. 2017, arXiv:1605.08803, section 4.1). With p = alpha + (1 - 2 alpha) x:
    log g'(x) = log(1 - 2 alpha) - log p - log(1 - p).
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
    """z = tanh(x), R -> (-1, 1); log g'(x) = log(1 - tanh^2 x) = 2 (log 2 - x - softplus(-2x))."""

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.tanh(x), 2 * (math.log(2) - x - F.softplus(-2 * x))

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return torch.atanh(z), -torch.log1p(-z * z)


class Softplus(Elementwise):
    """z = log(1 + e^x), R -> (0, inf); log g'(x) = log sigmoid(x) = -softplus(-x)."""

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return F.softplus(x), -F.softplus(-x)

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        # x = log(e^z - 1) = z + log(1 - e^-z); dx/dz = 1 / (1 - e^-z)
        log1mexp = torch.log(-torch.expm1(-z))
        return z + log1mexp, -log1mexp


class LeakyReLU(Elementwise):
    """z = x for x >= 0, slope * x otherwise (slope > 0); log g'(x) = log(slope) [x < 0]."""

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
    """z = exp(x), R -> (0, inf); log g'(x) = x."""

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x.exp(), x

    def _unmap(self, z: Tensor) -> tuple[Tensor, Tensor]:
        x = z.log()
        return x, -x
