"""Bracketed root finding for batches of increasing scalar functions (numerical inverses)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


@torch.no_grad()
def increasing_root(
    fn: Callable[[Tensor], tuple[Tensor, Tensor]],
    lower: Tensor,
    upper: Tensor,
    rtol: float | None = None,
    max_iter: int = 200,
) -> Tensor:
    """Solves fn(a) = 0 entry by entry for a strictly increasing fn with a root in
    [lower, upper]; `fn(a)` returns (value, derivative).

    Safeguarded Newton: a Newton step that leaves the current bracket is replaced by
    bisection, and the bracket shrinks at every step, so it always converges (bisection
    alone halves the bracket); near the root Newton converges quadratically. Stops when the
    step is below rtol * (1 + |a|), by default 1e-12 in float64 and 1e-6 in float32.
    Runs without gradients: callers recover them with one Newton step at the root.
    """
    if rtol is None:
        rtol = max(1e-12, 8 * torch.finfo(lower.dtype).eps)
    lower, upper = torch.minimum(lower, upper), torch.maximum(lower, upper)
    a = (lower + upper) / 2
    for _ in range(max_iter):
        value, slope = fn(a)
        above = value > 0
        upper = torch.where(above, a, upper)
        lower = torch.where(above, lower, a)
        newton = a - value / slope
        inside = (newton > lower) & (newton < upper)
        step = torch.where(inside, newton, (lower + upper) / 2) - a
        step = torch.where(value == 0, torch.zeros_like(step), step)
        a = a + step
        tol = rtol * (1 + a.abs())
        if bool(((step.abs() <= tol) | (upper - lower <= tol)).all()):
            break
    return a


STALLED = 10  # steps without a smaller largest change: the rounding floor


class ConvergenceError(RuntimeError):
    """An iterative solve (a fixed-point inverse, an ODE) stopped before its tolerance."""


@torch.no_grad()
def fixed_point(
    step: Callable[[Tensor], Tensor], start: Tensor, rtol: float, max_iter: int, where: str
) -> Tensor:
    """Iterates a <- step(a) from `start` until every change is at most rtol * (1 + |a|),
    or until the changes sit at the rounding floor of a's dtype.

    Converges geometrically when `step` is a contraction (Banach). In floating point the
    iterates end in a ball of radius ~ (rounding error of `step`) / (1 - Lip), which can
    exceed rtol (float32, terms larger than a): when the largest change has not fallen for
    STALLED steps and is below sqrt(eps) * (1 + max|a|), the iteration can improve no
    further and stops there. Raises ConvergenceError, naming `where` and the largest
    remaining change, after `max_iter` steps or on a non-finite value.
    """
    a = start
    floor = torch.finfo(start.dtype).eps ** 0.5 if start.is_floating_point() else 0.0
    largest, smallest, stalled = 0.0, math.inf, 0
    for _ in range(max_iter):
        new = step(a)
        change = (new - a).abs()
        a = new
        largest = float(change.max()) if change.numel() else 0.0  # NaN, inf reach the max
        # Before the tolerance test: an infinite a has an infinite tolerance too.
        if not math.isfinite(largest):
            raise ConvergenceError(f"{where}: the fixed-point iteration reached non-finite values")
        if bool((change <= rtol * (1 + a.abs())).all()):
            return a
        stalled = stalled + 1 if largest >= smallest else 0
        smallest = min(smallest, largest)
        if stalled >= STALLED and largest <= floor * (1 + float(a.abs().max())):
            return a
    raise ConvergenceError(
        f"{where}: the fixed-point iteration did not converge in {max_iter} iterations "
        f"(largest change {largest:.3g}, tolerance {rtol:.3g} relative)"
    )
