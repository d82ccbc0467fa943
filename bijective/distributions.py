"""Base distributions p(z) for flows: modules, so learnable ones train with the flow and all
of them move with `.to(device)`.

Every distribution has `event_shape`, `log_prob(z) -> Tensor[batch]`, and
`sample(shape, temperature)` / `rsample(shape, temperature) -> Tensor[*shape, *event]`
(rsample keeps the reparameterised gradient). Temperature T follows Glow: it scales the
standard deviation, sampling N(mu, (T sigma)^2) for a normal.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .gaussian import LOG_2PI, log_normal
from .transforms.base import sum_event
from .validation import Shape, as_shape


class Distribution(nn.Module):
    """A density p(z) on events of shape `event_shape`; subclasses give log_prob and rsample.
    `bounded`: the support is a bounded set, so log p = -inf outside it is an answer, not
    an overflow."""

    event_shape: Shape
    bounded: bool = False

    def log_prob(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def rsample(self, shape: Sequence[int] = (), temperature: float = 1.0) -> Tensor:
        raise NotImplementedError

    def sample(self, shape: Sequence[int] = (), temperature: float = 1.0) -> Tensor:
        with torch.no_grad():
            return self.rsample(shape, temperature)

    def forward(self, z: Tensor) -> Tensor:
        return self.log_prob(z)

    def _anchor(self) -> Tensor:
        # Any tensor of the module: it gives the device and dtype for new samples.
        return next(itertools.chain(self.parameters(), self.buffers()))

    def _noise(self, shape: Sequence[int], temperature: float) -> Tensor:
        anchor = self._anchor()
        eps = torch.randn(*shape, *self.event_shape, dtype=anchor.dtype, device=anchor.device)
        return eps * temperature


class StandardNormal(Distribution):
    """N(0, I) on events of `shape`: log p(z) = -(||z||^2 + D log 2 pi) / 2."""

    def __init__(self, shape: int | Sequence[int]) -> None:
        super().__init__()
        self.event_shape = as_shape(shape)
        self.register_buffer("_zero", torch.zeros(()), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        n = len(self.event_shape)
        return -0.5 * (sum_event(z * z, n) + math.prod(self.event_shape) * LOG_2PI)

    def rsample(self, shape: Sequence[int] = (), temperature: float = 1.0) -> Tensor:
        return self._noise(shape, temperature)


class DiagonalNormal(Distribution):
    """N(loc, diag(exp(log_scale))^2) with learnable loc and log_scale (start: N(0, I))."""

    def __init__(self, shape: int | Sequence[int]) -> None:
        super().__init__()
        self.event_shape = as_shape(shape)
        self.loc = nn.Parameter(torch.zeros(self.event_shape))
        self.log_scale = nn.Parameter(torch.zeros(self.event_shape))

    def log_prob(self, z: Tensor) -> Tensor:
        e = (z - self.loc) * (-self.log_scale).exp()
        return sum_event(log_normal(e) - self.log_scale, len(self.event_shape))

    def rsample(self, shape: Sequence[int] = (), temperature: float = 1.0) -> Tensor:
        return self.loc + self.log_scale.exp() * self._noise(shape, temperature)


class Uniform(Distribution):
    """Uniform on the box [low, high] (tensors or floats; the event shape is their
    broadcast shape): log p(z) = -sum log(high - low) inside, -inf outside.
    Temperature is not defined for it: only T = 1 is accepted."""

    bounded = True

    def __init__(self, low: Tensor | float, high: Tensor | float) -> None:
        super().__init__()
        low, high = torch.broadcast_tensors(torch.as_tensor(low), torch.as_tensor(high))
        if not low.is_floating_point():
            low, high = low.to(torch.get_default_dtype()), high.to(torch.get_default_dtype())
        if low.dim() == 0:
            low, high = low[None], high[None]
        if not (low < high).all():
            raise ValueError("Uniform: expected low < high in every dimension")
        self.event_shape = tuple(low.shape)
        self.register_buffer("low", low.clone())
        self.register_buffer("high", high.clone())

    def log_prob(self, z: Tensor) -> Tensor:
        n = len(self.event_shape)
        inside = sum_event(((z >= self.low) & (z <= self.high)).to(z.dtype), n) == math.prod(
            self.event_shape
        )
        log_volume = (self.high - self.low).log().sum()
        return torch.where(inside, -log_volume, torch.full_like(log_volume, -math.inf))

    def rsample(self, shape: Sequence[int] = (), temperature: float = 1.0) -> Tensor:
        if temperature != 1.0:
            raise ValueError(f"Uniform: temperature is only defined as 1.0; got {temperature}")
        u = torch.rand(*shape, *self.event_shape, dtype=self.low.dtype, device=self.low.device)
        return self.low + (self.high - self.low) * u


class GaussianMixture(Distribution):
    """p(z) = sum_k pi_k N(z; mu_k, diag(sigma_k)^2) on vectors z of size `features`, with
    learnable weights (softmax of logits), means and log-scales; means start at N(0, I)
    draws so the components differ.

    rsample is reparameterised given the chosen component: gradients reach the means and
    scales of the samples' components, not the weights (a discrete choice).
    """

    def __init__(
        self, components: int, features: int, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.event_shape = (features,)
        self.logits = nn.Parameter(torch.zeros(components))
        self.means = nn.Parameter(torch.randn(components, features, generator=generator))
        self.log_scales = nn.Parameter(torch.zeros(components, features))

    def log_prob(self, z: Tensor) -> Tensor:
        e = (z[..., None, :] - self.means) * (-self.log_scales).exp()
        per_component = (log_normal(e) - self.log_scales).sum(-1)
        return torch.logsumexp(F.log_softmax(self.logits, -1) + per_component, dim=-1)

    def rsample(self, shape: Sequence[int] = (), temperature: float = 1.0) -> Tensor:
        shape = tuple(shape)
        weights = F.softmax(self.logits.detach(), -1)
        k = torch.multinomial(weights, math.prod(shape), replacement=True).reshape(shape)
        return self.means[k] + self.log_scales[k].exp() * self._noise(shape, temperature)
