"""Normalization layers as bijections: ActNorm and the batch-normalization flow.

Both act per feature of a vector event (D,) or per channel of an image event (C, H, W):
parameters have shape (C, 1, ..., 1), so the log-det of a channel counts once per pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..validation import as_shape
from .base import Transform, batch_shape


class _PerChannel(Transform):
    def __init__(self, shape: int | Sequence[int]) -> None:
        super().__init__()
        self.event_shape = as_shape(shape)
        self.param_shape = (self.event_shape[0],) + (1,) * (len(self.event_shape) - 1)
        self.pixels = math.prod(self.event_shape[1:])

    def _reduce_dims(self, x: Tensor) -> tuple[int, ...]:
        # Every dimension but the channel one: the batch dims and the spatial dims.
        channel = x.dim() - len(self.event_shape)
        return tuple(d for d in range(x.dim()) if d != channel)

    def _ladj(self, x: Tensor, log_scale: Tensor) -> Tensor:
        return (self.pixels * log_scale.sum()).expand(batch_shape(x, len(self.event_shape)))


class ActNorm(_PerChannel):
    """z = (x + bias) * exp(log_scale), per channel; ladj = pixels * sum(log_scale).

    Kingma & Dhariwal 2018 (Glow, arXiv:1807.03039): on the first forward call the bias and
    scale are set from that batch so z has zero mean and unit variance per channel. The flag
    `initialized` is a buffer, so a reloaded state dict is not re-initialised. An inverse
    call before any forward call uses the parameters as they are (the identity). Under
    data parallelism the trainer makes that first call with the whole global batch
    (bijective.train.distributed.initialise), so the transform needs no communication.

    Args:
        shape: the event shape: D for vectors, or (C, H, W) for images (one bias and scale
            per channel).
        eps: added to the first batch's standard deviation before its log is taken.

    Example:
        >>> import torch, bijective as bj
        >>> norm = bj.transforms.ActNorm(3)
        >>> z, ladj = norm(5 + 2 * torch.randn(256, 3))  # the first call initialises
        >>> z.mean(0).abs().max() < 1e-4, (z.std(0, correction=0) - 1).abs().max() < 1e-3
        (tensor(True), tensor(True))
    """

    def __init__(self, shape: int | Sequence[int], eps: float = 1e-6) -> None:
        super().__init__(shape)
        self.eps = eps
        self.bias = nn.Parameter(torch.zeros(self.param_shape))
        self.log_scale = nn.Parameter(torch.zeros(self.param_shape))
        self.register_buffer("initialized", torch.tensor(False))
        # The buffer, mirrored as a Python bool: forward reads this one, which
        # torch.compile guards on, where reading the tensor would break the graph.
        self._ready = False

    @property
    def ready(self) -> bool:
        """Whether the data-dependent initialisation has happened (or was loaded)."""
        return self._ready

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args)
        self._ready = bool(self.initialized)

    @torch.no_grad()
    def _initialize(self, x: Tensor) -> None:
        dims = self._reduce_dims(x)
        values = x.numel() // max(1, math.prod(self.param_shape))
        if values < 2:
            raise ValueError(
                "ActNorm: the data-dependent initialisation needs at least 2 values per "
                f"channel (one row's std is 0, which would scale later data by 1/eps); got "
                f"{values}: make the first batch larger"
            )
        mean, std = x.mean(dim=dims), x.std(dim=dims, correction=0)
        mean, std = mean.reshape(self.param_shape), std.reshape(self.param_shape)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-(std + self.eps).log())
        self.initialized.fill_(True)
        self._ready = True

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if not self._ready:
            self._initialize(x)
        return (x + self.bias) * self.log_scale.exp(), self._ladj(x, self.log_scale)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return z * (-self.log_scale).exp() - self.bias, self._ladj(z, -self.log_scale)


class BatchNorm(_PerChannel):
    """z = (x - mean) / sqrt(var + eps) * exp(log_gamma) + beta, per channel.

    Dinh et al. 2017 (RealNVP, arXiv:1605.08803, section 3.7);
    ladj = pixels * sum(log_gamma - log(var + eps) / 2).

    Eval mode uses the running mean and variance in both directions: an exact bijection.
    Train mode's forward uses the batch's statistics (biased variance), treats them as
    constants in ladj (as the paper does), and updates the running averages with
    `momentum`; the inverse always uses the running statistics, so in train mode it is the
    inverse of the eval-mode forward, not of the batch-statistics forward.

    Args:
        shape: the event shape: D for vectors, or (C, H, W) for images (per channel).
        momentum: the weight of each training batch in the running mean and variance.
        eps: added to the variance before its square root.

    Example:
        >>> import torch, bijective as bj
        >>> norm = bj.transforms.BatchNorm(2)
        >>> _ = norm(3 + torch.randn(64, 2))  # train mode: batch statistics, running averages
        >>> norm = norm.eval()  # an exact bijection on the running statistics
        >>> x = torch.randn(5, 2)
        >>> torch.allclose(norm.inverse(norm(x)[0])[0], x, atol=1e-5)
        True
    """

    def __init__(
        self, shape: int | Sequence[int], momentum: float = 0.1, eps: float = 1e-5
    ) -> None:
        super().__init__(shape)
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"BatchNorm: expected 0 < momentum <= 1; got {momentum}")
        self.momentum = momentum
        self.eps = eps
        self.log_gamma = nn.Parameter(torch.zeros(self.param_shape))
        self.beta = nn.Parameter(torch.zeros(self.param_shape))
        self.register_buffer("running_mean", torch.zeros(self.param_shape))
        self.register_buffer("running_var", torch.ones(self.param_shape))

    def _log_scale(self, var: Tensor) -> Tensor:
        return self.log_gamma - 0.5 * (var + self.eps).log()

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if self.training:
            dims = self._reduce_dims(x)
            mean = x.mean(dim=dims).reshape(self.param_shape)
            var = x.var(dim=dims, correction=0).reshape(self.param_shape)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        log_scale = self._log_scale(var)
        return (x - mean) * log_scale.exp() + self.beta, self._ladj(x, log_scale)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        log_scale = self._log_scale(self.running_var)
        x = (z - self.beta) * (-log_scale).exp() + self.running_mean
        return x, self._ladj(z, -log_scale)
