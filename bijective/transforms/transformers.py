"""Element-wise transformers: the invertible scalar maps that coupling and autoregressive
layers apply, with parameters computed by a conditioner.

A transformer has `params` (parameters per entry) and maps x (*, n) with
params (*, n, params) to (y, log|dy/dx|) entry by entry, both (*, n); `inverse` undoes it.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class Transformer(Protocol):
    """What coupling and autoregressive layers need of an element-wise transformer.

    Example:
        Any object with `params` and the two methods will do:

        >>> import torch, bijective as bj
        >>> tau: bj.transforms.Transformer = bj.transforms.SplineTransformer(bins=4)
        >>> tau.params  # 4 widths, 4 heights, 3 interior derivatives
        11
    """

    params: int

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]: ...

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]: ...


class AdditiveTransformer:
    """y = x + t: volume preserving (NICE, Dinh et al. 2015, arXiv:1410.8516).

    Example:
        >>> import torch, bijective as bj
        >>> tau = bj.transforms.AdditiveTransformer()
        >>> tau.forward(torch.tensor([1.0, 2.0]), torch.tensor([[0.5], [-1.0]]))
        (tensor([1.5000, 1.0000]), tensor([0., 0.]))
    """

    params = 1

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        return x + params[..., 0], x.new_zeros(()).expand_as(x)

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        return y - params[..., 0], y.new_zeros(()).expand_as(y)


class AffineTransformer:
    """y = x * exp(s) + t with the soft clamp s = clamp * tanh(s' / clamp)
    (RealNVP, Dinh et al. 2017, arXiv:1605.08803); log|dy/dx| = s.

    The clamp keeps |s| < clamp, so one layer scales by at most exp(clamp); it is the
    identity near s' = 0, where a zero-initialised conditioner starts.

    Args:
        clamp: the soft clamp of the log-scale, > 0.

    Example:
        >>> import torch, bijective as bj
        >>> tau = bj.transforms.AffineTransformer()
        >>> params = torch.tensor([[1.0, 0.0], [0.0, 0.5]])  # (shift, raw log-scale) per entry
        >>> y, log_slope = tau.forward(torch.tensor([1.0, 1.0]), params)
        >>> torch.allclose(tau.inverse(y, params)[0], torch.tensor([1.0, 1.0]))
        True
    """

    params = 2

    def __init__(self, clamp: float = 5.0) -> None:
        if clamp <= 0:
            raise ValueError(f"AffineTransformer: expected clamp > 0; got {clamp}")
        self.clamp = float(clamp)

    def _shift_log_scale(self, params: Tensor) -> tuple[Tensor, Tensor]:
        return params[..., 0], (params[..., 1] * (1 / self.clamp)).tanh() * self.clamp

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        shift, log_scale = self._shift_log_scale(params)
        return torch.addcmul(shift, x, log_scale.exp()), log_scale

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        # -s in one product (the sequential solve of MAF calls this D times per layer)
        neg_log_scale = (params[..., 1] * (1 / self.clamp)).tanh() * -self.clamp
        return (y - params[..., 0]) * neg_log_scale.exp(), neg_log_scale
