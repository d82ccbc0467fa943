"""Unnormalized target densities p(z) = exp(log p~(z)) / Z for variational inference.

A target gives `log_prob(z)` = log p~(z), shape (*batch) for z (*batch, D), and knows its
log normaliser log Z (closed form, or computed once by quadrature on a fine grid), so
KL(q || p) = E_q[log q(z) - log p~(z)] + log Z is an exact number rather than a bound.
`bounds` is a box holding all but a negligible part of the mass (the quadrature domain);
`view` is the box plotted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cached_property

import torch
from torch import Tensor

from .registry import Registry

Box = tuple[tuple[float, float], ...]


def grid_log_normalizer(
    log_prob: Callable[[Tensor], Tensor], bounds: Box, points: int = 2001
) -> float:
    """log of the integral of exp(log_prob) over the 2-D box `bounds` by the midpoint rule
    on a points x points grid in float64 (log-sum-exp, row chunks of the grid)."""
    if len(bounds) != 2:
        raise ValueError(f"grid_log_normalizer: expected a 2-D box; got {len(bounds)} dimensions")
    axes = []
    for lo, hi in bounds:
        h = (hi - lo) / points
        axes.append((torch.arange(points, dtype=torch.float64) + 0.5) * h + lo)
    cell = math.log((bounds[0][1] - bounds[0][0]) / points) + math.log(
        (bounds[1][1] - bounds[1][0]) / points
    )
    chunks = []
    for rows in axes[0].split(256):
        grid = torch.stack(torch.meshgrid(rows, axes[1], indexing="ij"), -1)
        chunks.append(torch.logsumexp(log_prob(grid).flatten(), 0))
    return float(torch.logsumexp(torch.stack(chunks), 0)) + cell


class Target:
    """An unnormalized density on R^D: log p~(z), its log normaliser, and a plotting box.

    Subclasses define `_log_prob`; a closed-form normaliser is given as `_closed_form`,
    otherwise (2-D targets) it is computed by `grid_log_normalizer` on `bounds` on first use.
    """

    features: int = 2
    bounds: Box = ((-4.0, 4.0), (-4.0, 4.0))
    description = "an unnormalized density"
    _closed_form: float | None = None

    @property
    def view(self) -> Box:
        return self.bounds

    def log_prob(self, z: Tensor) -> Tensor:
        """log p~(z), shape (*batch), for z of shape (*batch, D)."""
        if z.shape[-1] != self.features:
            raise ValueError(
                f"{type(self).__name__}.log_prob: expected z of shape (*batch, {self.features}); "
                f"got {tuple(z.shape)}"
            )
        return self._log_prob(z)

    def _log_prob(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    @cached_property
    def log_normalizer(self) -> float:
        """log Z = log of the integral of p~ (closed form, or by quadrature on `bounds`)."""
        if self._closed_form is not None:
            return self._closed_form
        if self.features != 2:
            raise ValueError(f"{type(self).__name__}: no log normaliser known in {self.features}-D")
        return grid_log_normalizer(self._log_prob, self.bounds)

    def normalized_log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = log p~(z) - log Z."""
        return self.log_prob(z) - self.log_normalizer

    def __call__(self, z: Tensor) -> Tensor:
        return self.log_prob(z)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(features={self.features})"


class FromCallable(Target):
    """Any callable returning log p~(z) for z (*batch, D). Its log normaliser is the given
    `log_normalizer`, else (2-D, with `bounds`) computed by quadrature, else unknown (a
    ValueError when asked for it: reported KLs are then E_q[log q - log p~] only)."""

    def __init__(
        self,
        log_prob: Callable[[Tensor], Tensor],
        features: int,
        bounds: Sequence[Sequence[float]] | None = None,
        log_normalizer: float | None = None,
    ) -> None:
        self.fn = log_prob
        self.features = features
        self._closed_form = log_normalizer
        self._has_bounds = bounds is not None
        if bounds is not None:
            self.bounds = tuple((float(lo), float(hi)) for lo, hi in bounds)

    def _log_prob(self, z: Tensor) -> Tensor:
        return self.fn(z)

    @cached_property
    def log_normalizer(self) -> float:
        if self._closed_form is None and not self._has_bounds:
            raise ValueError(
                "targets.FromCallable: log normaliser unknown; give log_normalizer= or bounds="
            )
        return super().log_normalizer


def _w1(z1: Tensor) -> Tensor:
    return torch.sin(math.pi * z1 / 2)  # sin(2 pi z1 / 4)


def _w2(z1: Tensor) -> Tensor:
    return 3 * torch.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)


def _w3(z1: Tensor) -> Tensor:
    return 3 * torch.sigmoid((z1 - 1) / 0.3)


def _wall(z1: Tensor, edge: float = 4.0, width: float = 0.2) -> Tensor:
    # 0 on |z1| <= edge, then a Gaussian fall-off of scale `width`.
    return 0.5 * ((z1.abs() - edge).clamp_min(0) / width) ** 2


class _Energy(Target):
    """Rezende & Mohamed 2015 (arXiv:1505.05770), Table 1: p~(z) = exp(-U(z)) on R^2.

    U2, U3 and U4 do not decay along z1 (w1 is periodic), so they have no normaliser on
    R^2; the paper shows them on [-4, 4]^2. Here they are exactly as in the table for
    |z1| <= 4 and fall off beyond it as exp(-((|z1| - 4) / 0.2)^2 / 2), which makes them
    proper densities concentrated on the paper's box."""

    view: Box = ((-4.0, 4.0), (-4.0, 4.0))

    def _log_prob(self, z: Tensor) -> Tensor:
        return -self.energy(z[..., 0], z[..., 1])

    def energy(self, z1: Tensor, z2: Tensor) -> Tensor:
        raise NotImplementedError


class U1(_Energy):
    """U1 = ((||z|| - 2) / 0.4)^2 / 2
    - ln(exp(-((z1 - 2) / 0.6)^2 / 2) + exp(-((z1 + 2) / 0.6)^2 / 2)):
    a ring of radius 2 with two modes on the z1 axis."""

    description = "Rezende & Mohamed's U1: a ring with two modes"

    bounds = ((-6.0, 6.0), (-6.0, 6.0))

    def energy(self, z1: Tensor, z2: Tensor) -> Tensor:
        ring = 0.5 * ((torch.sqrt(z1 * z1 + z2 * z2) - 2) / 0.4) ** 2
        modes = torch.logaddexp(-0.5 * ((z1 - 2) / 0.6) ** 2, -0.5 * ((z1 + 2) / 0.6) ** 2)
        return ring - modes


class U2(_Energy):
    """U2 = ((z2 - w1) / 0.4)^2 / 2, w1 = sin(2 pi z1 / 4): a sine wave (walled at |z1| = 4)."""

    description = "Rezende & Mohamed's U2: a sine wave"

    bounds = ((-6.0, 6.0), (-6.0, 6.0))

    def energy(self, z1: Tensor, z2: Tensor) -> Tensor:
        return 0.5 * ((z2 - _w1(z1)) / 0.4) ** 2 + _wall(z1)


class U3(_Energy):
    """U3 = -ln(exp(-((z2 - w1) / 0.35)^2 / 2) + exp(-((z2 - w1 + w2) / 0.35)^2 / 2)),
    w2 = 3 exp(-((z1 - 1) / 0.6)^2 / 2): the wave splitting in two around z1 = 1."""

    description = "Rezende & Mohamed's U3: a wave splitting in two"

    bounds = ((-6.0, 6.0), (-9.0, 5.0))

    def energy(self, z1: Tensor, z2: Tensor) -> Tensor:
        d = z2 - _w1(z1)
        both = torch.logaddexp(-0.5 * (d / 0.35) ** 2, -0.5 * ((d + _w2(z1)) / 0.35) ** 2)
        return _wall(z1) - both


class U4(_Energy):
    """U4 = -ln(exp(-((z2 - w1) / 0.4)^2 / 2) + exp(-((z2 - w1 + w3) / 0.35)^2 / 2)),
    w3 = 3 sigmoid((z1 - 1) / 0.3): the wave and a shifted copy for z1 > 1."""

    description = "Rezende & Mohamed's U4: a wave and a shifted copy"

    bounds = ((-6.0, 6.0), (-9.0, 5.0))

    def energy(self, z1: Tensor, z2: Tensor) -> Tensor:
        d = z2 - _w1(z1)
        both = torch.logaddexp(-0.5 * (d / 0.4) ** 2, -0.5 * ((d + _w3(z1)) / 0.35) ** 2)
        return _wall(z1) - both


class Banana(Target):
    """A twisted Gaussian (Haario et al. 1999): z1 ~ N(0, 2^2), z2 | z1 ~ N(b (z1^2 - 4), 1),
    log p~ = -(z1 / 2)^2 / 2 - (z2 - b (z1^2 - 4))^2 / 2. The shear is volume preserving,
    so Z = 2 pi * 2."""

    description = "a twisted Gaussian"

    def __init__(self, curvature: float = 0.5) -> None:
        self.curvature = curvature
        self._closed_form = math.log(4 * math.pi)
        reach = 2 * 7.0  # seven standard deviations of z1
        self.bounds = ((-reach, reach), (-2 * curvature * 4 - 8, curvature * reach**2 + 8))

    @property
    def view(self) -> Box:
        return ((-6.0, 6.0), (-3.0 - 2 * self.curvature, 8 * self.curvature + 3.0))

    def _log_prob(self, z: Tensor) -> Tensor:
        z1, z2 = z[..., 0], z[..., 1]
        return -0.5 * (z1 / 2) ** 2 - 0.5 * (z2 - self.curvature * (z1 * z1 - 4)) ** 2


class Funnel(Target):
    """Neal's funnel (Neal 2003) in D dimensions: v = z1 ~ N(0, 3^2), z_i | v ~ N(0, e^v),
    log p~ = -v^2 / 18 - (v (D - 1) + e^-v sum_i z_i^2) / 2, so
    Z = sqrt(2 pi 9) (2 pi)^((D - 1) / 2). Its neck is narrow where v is very negative:
    a hard target for a flow."""

    description = "Neal's funnel"

    def __init__(self, features: int = 2) -> None:
        if features < 2:
            raise ValueError(f"Funnel: expected features >= 2; got {features}")
        self.features = features
        self._closed_form = 0.5 * math.log(2 * math.pi * 9) + 0.5 * (features - 1) * math.log(
            2 * math.pi
        )
        self.bounds = ((-9.0, 9.0), (-8.0, 8.0))

    @property
    def view(self) -> Box:
        return ((-8.0, 8.0), (-8.0, 8.0))

    def _log_prob(self, z: Tensor) -> Tensor:
        v, rest = z[..., 0], z[..., 1:]
        return -v * v / 18 - 0.5 * (v * (self.features - 1) + (-v).exp() * (rest * rest).sum(-1))


class Ring(Target):
    """A ring of `components` Gaussians of scale `scale` equally spaced on a circle of
    `radius`: log p~ = logsumexp_k(-||z - mu_k||^2 / (2 scale^2)), Z = K 2 pi scale^2.
    Separated modes: reverse KL tends to find only some of them."""

    description = "a ring of Gaussians"

    def __init__(self, components: int = 8, radius: float = 4.0, scale: float = 0.5) -> None:
        self.components, self.radius, self.scale = components, radius, scale
        angles = torch.arange(components, dtype=torch.float64) * (2 * math.pi / components)
        self.means = radius * torch.stack([angles.cos(), angles.sin()], -1)
        self._closed_form = math.log(components * 2 * math.pi * scale**2)
        reach = radius + 9 * scale
        self.bounds = ((-reach, reach), (-reach, reach))

    def _log_prob(self, z: Tensor) -> Tensor:
        means = self.means.to(z.dtype).to(z.device)
        d = z[..., None, :] - means
        return torch.logsumexp(-0.5 * (d * d).sum(-1) / self.scale**2, -1)


TARGETS = Registry("target")
for _cls in (U1, U2, U3, U4, Banana, Funnel, Ring):
    TARGETS.add(_cls.__name__.lower(), _cls, ("variational",), description=_cls.description)


def get(name: str, **options: float) -> Target:
    """A built-in target by name (u1, u2, u3, u4, banana, funnel, ring)."""
    return TARGETS[name].build(**options)
