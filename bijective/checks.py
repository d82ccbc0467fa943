"""`check`: does a transform invert, and is its log-det the log|det| of its Jacobian?"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor

from .transforms.base import Transform
from .validation import check_tensor


class CheckError(AssertionError):
    """Raised by `check` when a transform fails one of its checks."""


@dataclass(frozen=True)
class CheckReport:
    """Largest absolute errors found by `check`, over the batch."""

    inverse_error: float  # |f^{-1}(f(x)) - x|
    logdet_error: float  # |ladj(x) - log|det J_f(x)||, J_f from autograd
    cancel_error: float  # |ladj(x) + ladj_inverse(f(x))|

    def __str__(self) -> str:
        return (
            f"inverse error {self.inverse_error:.3g}, log-det error {self.logdet_error:.3g}, "
            f"forward + inverse log-det {self.cancel_error:.3g}"
        )


def jacobian_logdet(fn: object, x: Tensor, event_dims: int) -> Tensor:
    """log|det dfn(x)/dx| per sample, shape = batch shape, by one backward pass per output
    entry (samples must be independent, as in any transform in eval mode)."""
    x = x.detach().requires_grad_(True)
    y = fn(x)
    batch = x.shape[: x.dim() - event_dims]
    outputs = y.reshape(batch.numel(), -1)
    rows = [
        torch.autograd.grad(outputs[:, j].sum(), x, retain_graph=True)[0].reshape(
            outputs.shape[0], -1
        )
        for j in range(outputs.shape[1])
    ]
    return torch.linalg.slogdet(torch.stack(rows, dim=1)).logabsdet.reshape(batch)


def check(
    transform: Transform,
    x: Tensor,
    context: Tensor | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-6,
) -> CheckReport:
    """Checks a transform at the points x, in float64, and returns the errors it found.

    Runs on a float64 copy in eval mode (batch-statistic layers are exact bijections only
    there; the original is left untouched) and verifies: x = f^{-1}(f(x)); ladj equals
    log|det df/dx| of the autograd Jacobian; the inverse's ladj at f(x) is -ladj.
    An error e against a reference r passes when e <= atol + rtol * max|r|. Raises
    CheckError, naming each failed check, otherwise returns a CheckReport.
    """
    if not isinstance(transform, Transform):
        raise TypeError(f"check: expected a bijective Transform; got {type(transform).__name__}")
    check_tensor("check", "x", x)
    t = copy.deepcopy(transform).double().eval()
    x = x.detach().double()
    context = None if context is None else context.detach().double()
    with torch.enable_grad():
        z, ladj = t(x, context)
        event_dims = x.dim() - ladj.dim()
        logdet = jacobian_logdet(lambda v: t(v, context)[0], x, event_dims)
        x2, ladj_inverse = t.inverse(z.detach(), context)
    x2, ladj, ladj_inverse = x2.detach(), ladj.detach(), ladj_inverse.detach()
    report = CheckReport(
        inverse_error=float((x2 - x).abs().max()),
        logdet_error=float((ladj - logdet).abs().max()),
        cancel_error=float((ladj + ladj_inverse).abs().max()),
    )
    scale = float(ladj.abs().max())
    failures = [
        f"{name} is {error:.3g} (tolerance {limit:.3g})"
        for name, error, limit in [
            ("inverse(forward(x)) - x", report.inverse_error, atol + rtol * float(x.abs().max())),
            ("ladj - log|det J| (autograd)", report.logdet_error, atol + rtol * scale),
            ("forward ladj + inverse ladj", report.cancel_error, atol + rtol * scale),
        ]
        if not error <= limit  # also catches NaN
    ]
    if failures:
        raise CheckError(f"{type(transform).__name__} failed its checks: " + "; ".join(failures))
    return report
