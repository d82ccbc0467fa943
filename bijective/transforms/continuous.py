"""Continuous normalizing flows: z = x(T) for dx/dt = f(x, t, context), x(0) = x (FFJORD).

By the instantaneous change of variables (Chen et al. 2018, arXiv:1806.07366, theorem 1),
d log p(x(t)) / dt = -tr(df/dx), so log|det dz/dx| = int_0^T tr(df/dx(x(t), t)) dt, and
the inverse integrates the same ODE from T back to 0. FFJORD (Grathwohl et al. 2019,
arXiv:1810.01367) estimates the trace by Hutchinson's estimator, so a step costs one
vector-Jacobian product instead of D.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..nn.ode import ODENet
from ..optional import require
from .base import Transform, logdet_is_discarded
from .jacobians import dot, exact_trace, rademacher, vjp
from .roots import ConvergenceError

Trace = Literal["hutchinson", "exact"]
Activation = Literal["tanh", "softplus"]
Method = Literal["dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun"]
ADAPTIVE = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")


class _Dynamics(nn.Module):
    """The augmented right-hand side d/dt (x, l[, k, j]) = (f, tr df/dx[, |f|^2, |e^T df/dx|^2]),
    with the context, the trace mode and the Hutchinson noise e fixed for one solve."""

    def __init__(self, net: ODENet) -> None:
        super().__init__()
        self.net = net
        self.context: Tensor | None = None
        self.noise: Tensor | None = None  # None: the exact trace
        self.regularise = False
        self.field_only = False  # the log-det is discarded: integrate x alone
        self.evaluations = 0

    def forward(self, t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        self.evaluations += 1
        if self.field_only:
            return (self.net(state[0], t, self.context),)
        graph = torch.is_grad_enabled()
        with torch.enable_grad():
            x = state[0]  # a fresh leaf unless it is part of a graph being recorded
            x = x if graph and x.requires_grad else x.detach().requires_grad_()
            f = self.net(x, t, self.context)
            e = self.noise
            if e is None and self.regularise:
                e = rademacher(x)
            u = None if e is None else vjp(f, x, e, graph)  # e^T df/dx
            trace = exact_trace(f, x, graph) if self.noise is None else dot(u, e)
            out = (f, trace)
            if self.regularise:
                out = (f, trace, (f * f).sum(-1), (u * u).sum(-1))
        return out if graph else tuple(o.detach() for o in out)


class ContinuousFlow(Transform):
    """z = x(T), dx/dt = f(x, t, context) from x(0) = x, f an ODENet (FFJORD).

    ladj = int_0^T tr(df/dx) dt, integrated with x by torchdiffeq's adaptive `method`
    (dopri5 by default) to `rtol`, `atol` (raised to 8 machine epsilons of the dtype, so
    float32 solves stay feasible), in at most `max_steps` steps (ConvergenceError
    otherwise). The trace is `trace` in training mode ('hutchinson': e^T (df/dx) e with one
    Rademacher e per row, fixed over the solve, unbiased; 'exact': D products a step) and
    `eval_trace` in eval mode (default 'exact': deterministic log-likelihoods).
    `adjoint` computes gradients by solving the adjoint ODE backwards (memory constant in the
    number of steps) instead of backpropagating through the solver; the gradients reach the
    parameters and a context that requires them.
    Regularisation (RNODE, Finlay et al. 2020, arXiv:2002.02798): in training mode, with
    `kinetic` = lambda_K or `jacobian` = lambda_J > 0, the solve also integrates |f|^2 and
    the Hutchinson estimate |e^T df/dx|^2 of |df/dx|_F^2, and leaves
    `penalty` = mean(lambda_K int |f|^2 dt + lambda_J int |df/dx|_F^2 dt), which the
    training loss adds (bijective.objectives.penalty). Shapes: x, z (*batch, D); context
    (*batch, C); ladj (*batch). `evaluations`: the number of f evaluations of the last solve.
    Where the caller discards the log-det (Flow.sample, encode, decode: transforms.base.
    logdet_discarded), x is integrated alone and ladj is 0: no trace is computed.

    Args:
        features: D.
        hidden: the hidden sizes of the ODENet f.
        context: C, the size of a context vector f reads (0: none).
        time: T, the end of the integration.
        activation: f's activation ("tanh", "softplus", ...).
        trace: the trace in training mode: "hutchinson" or "exact".
        eval_trace: the trace in eval mode.
        method: torchdiffeq's solver ("dopri5", ...).
        rtol: the solver's relative tolerance.
        atol: the solver's absolute tolerance.
        max_steps: the solver's step limit (then ConvergenceError).
        adjoint: gradients by the adjoint ODE (memory constant in the steps).
        kinetic: RNODE's lambda_K (training mode).
        jacobian: RNODE's lambda_J (training mode).
        field: another f(x, t, context) -> (*batch, D) to integrate instead of the ODENet
            (e.g. bijective.nn.UNet for images); `hidden` and `activation` then unused.

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.ContinuousFlow(2, hidden=(16,)).eval()  # the exact trace
        >>> x = torch.randn(3, 2)
        >>> z, ladj = f(x)
        >>> torch.allclose(f.inverse(z)[0], x, atol=1e-3)
        True
    """

    def __init__(
        self,
        features: int,
        hidden: tuple[int, ...] = (64, 64),
        context: int = 0,
        time: float = 1.0,
        activation: Activation = "tanh",
        trace: Trace = "hutchinson",
        eval_trace: Trace = "exact",
        method: Method = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        max_steps: int = 1000,
        adjoint: bool = False,
        kinetic: float = 0.0,
        jacobian: float = 0.0,
        field: nn.Module | None = None,
    ) -> None:
        super().__init__()
        where = "ContinuousFlow"
        for name, value in (("trace", trace), ("eval_trace", eval_trace)):
            if value not in ("hutchinson", "exact"):
                raise ValueError(f"{where}: expected {name} 'hutchinson' or 'exact'; got {value!r}")
        if method not in ADAPTIVE:
            raise ValueError(f"{where}: expected an adaptive method in {ADAPTIVE}; got {method!r}")
        if not time > 0 or not rtol > 0 or not atol > 0 or max_steps < 1:
            raise ValueError(
                f"{where}: expected time, rtol, atol > 0 and max_steps >= 1; "
                f"got {time}, {rtol}, {atol}, {max_steps}"
            )
        if not kinetic >= 0 or not jacobian >= 0:
            raise ValueError(f"{where}: expected kinetic, jacobian >= 0; got {kinetic}, {jacobian}")
        self.event_shape = (features,)
        self.context_features = context
        net = ODENet(features, tuple(hidden), context, activation) if field is None else field
        self.dynamics = _Dynamics(net)
        self.time, self.trace, self.eval_trace = float(time), trace, eval_trace
        self.method, self.rtol, self.atol, self.max_steps = method, rtol, atol, max_steps
        self.adjoint, self.kinetic, self.jacobian = adjoint, kinetic, jacobian
        self.penalty: Tensor | None = None

    @property
    def evaluations(self) -> int:
        return self.dynamics.evaluations

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._solve(x, context, 0.0, self.time, "forward")

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._solve(z, context, self.time, 0.0, "inverse")

    def _solve(
        self, x: Tensor, context: Tensor | None, start: float, end: float, direction: str
    ) -> tuple[Tensor, Tensor]:
        if x.numel() == 0:
            return x.clone(), x.new_zeros(x.shape[:-1])
        torchdiffeq = require("torchdiffeq", "torchdiffeq", "ContinuousFlow (FFJORD)")

        flat = x.reshape(-1, x.shape[-1])
        dynamics = self.dynamics
        if context is not None and self.context_features:
            context = context.expand(*x.shape[:-1], context.shape[-1]).reshape(len(flat), -1)
        exact = (self.trace if self.training else self.eval_trace) == "exact"
        dynamics.context, dynamics.noise = context, None if exact else rademacher(flat)
        dynamics.regularise = self.training and (self.kinetic > 0 or self.jacobian > 0)
        dynamics.field_only = logdet_is_discarded() and not dynamics.regularise
        dynamics.evaluations = 0
        zeros = flat.new_zeros(len(flat))
        state = (flat, zeros, zeros, zeros) if dynamics.regularise else (flat, zeros)
        state = state[:1] if dynamics.field_only else state
        floor = 8 * torch.finfo(x.dtype).eps
        options = {
            "rtol": max(self.rtol, floor),
            "atol": max(self.atol, floor),
            "method": self.method,
            "options": {"max_num_steps": self.max_steps},
        }
        times = torch.tensor([start, end], dtype=x.dtype, device=x.device)
        try:
            if self.adjoint and torch.is_grad_enabled():
                params = tuple(dynamics.parameters())
                if context is not None and context.requires_grad:
                    params += (context,)
                out = torchdiffeq.odeint_adjoint(
                    dynamics, state, times, adjoint_params=params, **options
                )
            else:
                out = torchdiffeq.odeint(dynamics, state, times, **options)
        except AssertionError as error:  # torchdiffeq signals a failed solve by assert
            raise ConvergenceError(
                f"ContinuousFlow.{direction}: the ODE solve stopped ({error}) after "
                f"{dynamics.evaluations} evaluations; raise max_steps (now {self.max_steps}), "
                f"loosen rtol/atol (now {self.rtol:g}/{self.atol:g}), or regularise the "
                f"dynamics (kinetic, jacobian)"
            ) from None
        finally:
            dynamics.context = dynamics.noise = None
        final = [s[-1] for s in out] + [zeros]  # zeros: the log-det when it is discarded
        if dynamics.regularise:
            self.penalty = (self.kinetic * final[2] + self.jacobian * final[3]).mean()
        return final[0].reshape(x.shape), final[1].reshape(x.shape[:-1])

    def extra_repr(self) -> str:
        return (
            f"time={self.time}, trace={self.trace!r}, eval_trace={self.eval_trace!r}, "
            f"method={self.method!r}, rtol={self.rtol:g}, atol={self.atol:g}"
        )
