"""The rational-quadratic spline's forward pass as one autograd node, with its backward
derived by hand: a training step through a neural spline flow is about half spline, and
the graph autograd records for it (some 60 small operations a layer) costs more than the
arithmetic. Checked against finite differences in float64 (tests/transforms/test_splines.py).

Notation (SplineKnots, SplineTransformer): in bin k with knots (x_k, y_k), width w, height h, mean
slope s = h / w and end derivatives d0, d1, at xi = (x - x_k) / w and t = xi (1 - xi):
  y = y_k + h n / m,  n = s xi^2 + d0 t,  m = s + (d0 + d1 - 2 s) t,
  L = log dy/dx = log(s^2 q) - 2 log m,  q = d1 xi^2 + 2 s t + d0 (1 - xi)^2.
The partial derivatives the backward chains (dy/dxi = h s q / m^2 is the slope times w):
  dy/ds = h (xi^2 m - n (1 - 2t)) / m^2,  dy/dd0 = h t (m - n) / m^2,  dy/dd1 = -h t n / m^2,
  dL/dxi = (2 d1 xi + 2 s (1 - 2 xi) - 2 d0 (1 - xi)) / q - 2 (d0 + d1 - 2 s)(1 - 2 xi) / m,
  dL/ds = 2 / s + 2 t / q - 2 (1 - 2 t) / m,
  dL/dd0 = (1 - xi)^2 / q - 2 t / m,  dL/dd1 = xi^2 / q - 2 t / m;
then xi and s through x, x_k, w, h; the bin ends through the knots (a reverse cumulative
sum: knot j is -bound + 2 bound sum_{i<j} width_i) to the softmaxes and the softplus.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .spline_knots import SplineKnots, slope_factor


class SplineForward(torch.autograd.Function):
    """(x (*), params (*, 3K - 1), spline) -> (y (*), log dy/dx (*)); the identity outside
    [-bound, bound]. First derivatives only: create_graph=True raises."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, params: Tensor, spline: SplineKnots) -> Any:
        xs, ys, d, p_widths, p_heights = spline.tables(params)
        inside = (x >= -spline.bound) & (x <= spline.bound)
        xc = x.clamp(-spline.bound, spline.bound)
        index, (x_k, w, y_k, h, d0, d1) = spline.bins_of(xc, xs, ys, d, by_output=False)
        s = h / w
        xi = (xc - x_k) / w
        in_bin = (xi >= 0) & (xi <= 1)  # false only by rounding; clamp's gradient is 0 there
        xi = xi.clamp(0, 1)
        t = xi * (1 - xi)
        m = s + (d0 + d1 - 2 * s) * t
        n = s * xi * xi + d0 * t
        q = slope_factor(s, d0, d1, xi, t)
        y = y_k + h * n / m
        log_slope = (s * s * q).log() - 2 * m.log()
        ctx.spline = spline
        ctx.save_for_backward(
            inside, in_bin, index, xi, t, s, w, h, d0, d1, m, n, q, p_widths, p_heights, params
        )
        return torch.where(inside, y, x), torch.where(inside, log_slope, 0.0)

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor, grad_log: Tensor) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():  # create_graph: the gradient would be a constant
            raise RuntimeError(
                "SplineTransformer.forward has first derivatives only (a hand-derived "
                "backward); a second derivative (create_graph=True) is not supported"
            )
        inside, in_bin, index, xi, t, s, w, h, d0, d1, m, n, q, p_w, p_h, params = ctx.saved_tensors
        spline: SplineKnots = ctx.spline
        gy = torch.where(inside, grad_y, 0.0)
        gl = torch.where(inside, grad_log, 0.0)
        m2 = m * m
        one_minus_2xi, one_minus_2t = 1 - 2 * xi, 1 - 2 * t
        dl_dxi = (2 * d1 * xi + 2 * s * one_minus_2xi - 2 * d0 * (1 - xi)) / q
        dl_dxi = dl_dxi - 2 * (d0 + d1 - 2 * s) * one_minus_2xi / m
        g_xi = torch.where(in_bin, gy * h * s * q / m2 + gl * dl_dxi, 0.0)
        g_s = gy * h * (xi * xi * m - n * one_minus_2t) / m2
        g_s = g_s + gl * (2 / s + 2 * t / q - 2 * one_minus_2t / m)
        g_d0 = gy * h * t * (m - n) / m2 + gl * ((1 - xi) ** 2 / q - 2 * t / m)
        g_d1 = gl * (xi * xi / q - 2 * t / m) - gy * h * t * n / m2
        g_x = g_xi / w  # = -(gradient of x_k)
        g_w = -(g_x * xi + g_s * s / w)
        g_h = gy * n / m + g_s / w
        grad_x = torch.where(inside, g_x, grad_y) if ctx.needs_input_grad[0] else None
        if not ctx.needs_input_grad[1]:
            return grad_x, None, None
        # Bin ends -> knot tables (*, 3, K + 1): x_k gets -g_x - g_w, x_k+1 gets g_w, ...
        ends = torch.stack([-g_x - g_w, g_w, gy - g_h, g_h, g_d0, g_d1], -1)
        tables = params.new_zeros(*xi.shape, 3, spline.bins + 1).scatter_add_(
            -1, index[..., None, :].expand(*xi.shape, 3, 2), ends.view(*xi.shape, 3, 2)
        )
        g_xs, g_ys, g_d = tables.unbind(-2)
        raw_w = _knots_backward(g_xs, p_w, spline.min_bin_width, spline)
        raw_h = _knots_backward(g_ys, p_h, spline.min_bin_height, spline)
        k = spline.bins
        slopes = params[..., 2 * k :]
        raw_d = g_d[..., 1:k] * torch.sigmoid(slopes + spline.shift)
        return grad_x, torch.cat([raw_w, raw_h, raw_d], -1), None


def _knots_backward(grad_knots: Tensor, p: Tensor, minimum: float, spline: SplineKnots) -> Tensor:
    """The gradient of the raw sizes (*, K) from that of the knots (*, K + 1): interior knot
    j = -bound + 2 bound sum_{i<j} (p_i (1 - K minimum) + minimum), p = softmax(raw)."""
    inner = grad_knots[..., 1:-1]
    # sum over knots j > i of their gradients, for i = 0..K-1 (the last is 0).
    later = inner.sum(-1, keepdim=True) - inner.cumsum(-1) + inner
    grad_p = torch.cat([later, torch.zeros_like(grad_knots[..., :1])], -1)
    grad_p = grad_p * (2 * spline.bound * (1 - minimum * spline.bins))
    return p * (grad_p - (grad_p * p).sum(-1, keepdim=True))
