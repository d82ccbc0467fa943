"""The knots of a monotone rational-quadratic spline: the layout of its bins on
[-bound, bound] and the tables (knot positions, heights, derivatives) its raw parameters
give. Shared by the spline (splines.py) and its hand-derived autograd node
(spline_forward.py), which take a SplineKnots and tensors, nothing else.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


class SplineKnots:
    """K bins on [-bound, bound], each at least `min_bin_width` / `min_bin_height` of the
    interval, interior knot derivatives at least `min_derivative`; `params` = 3K - 1 raw
    numbers per entry (K widths, K heights, K - 1 derivatives)."""

    def __init__(
        self,
        bins: int = 8,
        bound: float = 3.0,
        min_bin_width: float = 1e-3,
        min_bin_height: float = 1e-3,
        min_derivative: float = 1e-3,
    ) -> None:
        if bins < 1 or bound <= 0:
            raise ValueError(
                f"{type(self).__name__}: expected bins >= 1 and bound > 0; got {bins}, {bound}"
            )
        if min_bin_width * bins >= 1 or min_bin_height * bins >= 1:
            raise ValueError(
                f"{type(self).__name__}: min_bin_width * bins and min_bin_height * bins must be < 1"
            )
        self.bins, self.bound = bins, float(bound)
        self.min_bin_width, self.min_bin_height = min_bin_width, min_bin_height
        self.min_derivative = min_derivative
        # softplus(0 + shift) + min_derivative = 1: raw zeros give unit derivatives.
        self.shift = math.log(math.expm1(1 - min_derivative))
        self.params = 3 * bins - 1

    def _knots(self, raw: Tensor, minimum: float) -> tuple[Tensor, Tensor]:
        """Knots (*, K + 1) from -bound to bound and the softmax p (*, K) of the raw sizes:
        bin k spans (p_k (1 - K minimum) + minimum) of the interval."""
        # softmax by hand: torch's kernel is slow along a short last dimension. Softmax is
        # shift-invariant, so the subtracted maximum needs no gradient.
        e = (raw - raw.detach().amax(-1, keepdim=True)).exp()
        p = e / e.sum(-1, keepdim=True)
        cumulative = torch.cumsum(p * (1 - minimum * self.bins) + minimum, dim=-1)[..., :-1]
        # The ends are exactly 0 and 1 (not a rounded cumulative sum), then scaled to the box.
        ends = cumulative.new_tensor([0.0, 1.0]).expand(*cumulative.shape[:-1], 2)
        knots = torch.cat([ends[..., :1], cumulative, ends[..., 1:]], -1)
        return knots * (2 * self.bound) - self.bound, p

    def tables(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """The knots xs and ys (*, K + 1), the knot derivatives d (*, K + 1), and the
        softmax weights of the widths and heights (*, K)."""
        k = self.bins
        # split (not slicing: its backward needs no zero-filled buffers), each part made
        # contiguous so the element-wise kernels below run vectorised.
        widths, heights, slopes = (p.contiguous() for p in params.split([k, k, k - 1], -1))
        xs, p_widths = self._knots(widths, self.min_bin_width)
        ys, p_heights = self._knots(heights, self.min_bin_height)
        inner = F.softplus(slopes + self.shift) + self.min_derivative
        ones = inner.new_ones(()).expand(*inner.shape[:-1], 1)
        return xs, ys, torch.cat([ones, inner, ones], -1), p_widths, p_heights

    def bins_of(
        self, v: Tensor, xs: Tensor, ys: Tensor, d: Tensor, by_output: bool
    ) -> tuple[Tensor, list[Tensor]]:
        """The bin k of each v (an x, or a y by_output) as indices (*, 2) of its two ends,
        and its left knot x_k, width w, bottom y_k, height h and end derivatives d0, d1,
        each shaped like v."""
        knots = ys if by_output else xs
        index = (v[..., None] >= knots[..., 1:-1]).sum(-1, keepdim=True)
        index = torch.cat([index, index + 1], -1)
        # One gather for the three tables.
        ends = torch.stack([xs, ys, d], -2).gather(-1, index[..., None, :].expand(*v.shape, 3, 2))
        (x_k, x_k1), (y_k, y_k1), (d0, d1) = (e.unbind(-1) for e in ends.unbind(-2))
        return index, [x_k, x_k1 - x_k, y_k, y_k1 - y_k, d0, d1]


def slope_factor(s: Tensor, d0: Tensor, d1: Tensor, xi: Tensor, t: Tensor) -> Tensor:
    """q = d1 xi^2 + 2 s t + d0 (1 - xi)^2, with t = xi (1 - xi): in a bin of mean slope
    s and end derivatives d0, d1, dy/dx = s^2 q / denominator^2."""
    return d1 * xi * xi + 2 * s * t + d0 * (1 - xi) ** 2
