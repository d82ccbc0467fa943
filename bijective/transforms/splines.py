"""Monotone rational-quadratic splines as an element-wise transformer."""

from __future__ import annotations

import torch
from torch import Tensor

from .spline_forward import SplineForward
from .spline_knots import SplineKnots, slope_factor


class SplineTransformer(SplineKnots):
    """Monotone rational-quadratic spline (Durkan et al. 2019, Neural Spline Flows,
    arXiv:1906.04032), entry by entry: K bins on [-bound, bound], the identity outside.

    Parameters per entry: K bin widths, K bin heights (softmax, each at least
    `min_bin_width` / `min_bin_height` of the interval) and K - 1 interior knot
    derivatives (softplus + `min_derivative`); the two end derivatives are 1, so the
    spline joins the identity tails smoothly. Raw parameters at 0 give the identity.
    In bin k with xi = (x - x_k) / w_k in [0, 1] and s_k = h_k / w_k:
      y = y_k + h_k (s_k xi^2 + d_k xi (1 - xi)) / (s_k + (d_k + d_k+1 - 2 s_k) xi (1 - xi)).
    The inverse solves the quadratic a xi^2 + b xi + c = 0 for its root in [0, 1], in the
    form that is free of cancellation for the sign of b.

    Args:
        bins: K, the number of bins.
        bound: the spline acts on [-bound, bound]; the identity outside.
        min_bin_width: the least width of a bin, a fraction of the interval (K times it < 1).
        min_bin_height: the least height of a bin, likewise.
        min_derivative: the least derivative at an interior knot.

    Example:
        >>> import torch, bijective as bj
        >>> tau = bj.transforms.SplineTransformer(bins=4)
        >>> x, params = torch.tensor([-4.0, 0.3, 2.0]), torch.randn(3, tau.params)
        >>> y, log_slope = tau.forward(x, params)
        >>> y[0], log_slope[0]  # outside [-3, 3]: the identity
        (tensor(-4.), tensor(0.))
        >>> torch.allclose(tau.inverse(y, params)[0], x, atol=1e-5)
        True
    """

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """y and log dy/dx (both shaped like x (*)) from params (*, 3K - 1), in one autograd
        node with a hand-derived backward (bijective.transforms.spline_forward)."""
        return SplineForward.apply(x, params.expand(*x.shape, self.params), self)

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        inside = (y >= -self.bound) & (y <= self.bound)
        yc = y.clamp(-self.bound, self.bound)
        xs, ys, d, _, _ = self.tables(params)
        _, (x_k, w, y_k, h, d0, d1) = self.bins_of(yc, xs, ys, d, by_output=True)
        s = h / w
        dy = yc - y_k
        curvature = d0 + d1 - 2 * s
        a = h * (s - d0) + dy * curvature
        b = h * d0 - dy * curvature
        c = -s * dy
        root = (b * b - 4 * a * c).clamp_min(0).sqrt()
        # The root in [0, 1], 2c / (-b - root) = (-b + root) / (2a): each form is free of
        # cancellation for one sign of b. The unused branch gets a harmless denominator.
        positive = b >= 0
        xi = torch.where(
            positive,
            2 * c / torch.where(positive, -b - root, -torch.ones_like(b)),
            (-b + root) / torch.where(positive, torch.ones_like(a), 2 * a),
        ).clamp(0, 1)
        t = xi * (1 - xi)
        q = slope_factor(s, d0, d1, xi, t)
        log_slope = (s * s * q).log() - 2 * (s + curvature * t).log()
        return torch.where(inside, x_k + xi * w, y), torch.where(inside, -log_slope, 0.0)
