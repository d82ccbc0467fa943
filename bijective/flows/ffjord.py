"""FFJORD: continuous normalizing flows with a Hutchinson trace (Grathwohl et al. 2019)."""

from __future__ import annotations

from collections.abc import Sequence

from ..distributions import StandardNormal
from ..transforms import Compose, ContinuousFlow
from ..transforms.continuous import Activation, Method, Trace
from .base import Flow


class FFJORD(Flow):
    """`blocks` continuous flows in sequence on a standard normal (arXiv:1810.01367).

    Each block integrates dx/dt = f(x, t, context) over [0, `time`] with an ODENet of
    `hidden` units and log|det| = int tr(df/dx) dt; the trace is by Hutchinson in training
    and exact in eval mode by default, so reported log-likelihoods are deterministic (up to
    the solver's rtol/atol). Both directions cost one ODE solve a block. `kinetic` and
    `jacobian` add RNODE's regularisers to the training loss (fewer solver steps).

    Args:
        features: D.
        context: C, the size of the context vector of a conditional flow (0: none).
        blocks: the continuous flows in sequence.
        hidden: each ODENet's hidden sizes.
        time: T, each block's integration time.
        activation: the ODENet's activation.
        trace: the trace in training mode: "hutchinson" or "exact".
        eval_trace: the trace in eval mode.
        method: torchdiffeq's solver.
        rtol: the solver's relative tolerance.
        atol: the solver's absolute tolerance.
        max_steps: the solver's step limit.
        adjoint: gradients by the adjoint ODE.
        kinetic: RNODE's lambda_K.
        jacobian: RNODE's lambda_J.

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.FFJORD(features=2, hidden=(16, 16)).eval()
        >>> flow.log_prob(torch.randn(3, 2)).shape  # eval mode: the exact trace
        torch.Size([3])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        blocks: int = 1,
        hidden: Sequence[int] = (64, 64, 64),
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
    ) -> None:
        if blocks < 1:
            raise ValueError(f"FFJORD: expected blocks >= 1; got {blocks}")
        cnfs = [
            ContinuousFlow(
                features,
                hidden=tuple(hidden),
                context=context,
                time=time,
                activation=activation,
                trace=trace,
                eval_trace=eval_trace,
                method=method,
                rtol=rtol,
                atol=atol,
                max_steps=max_steps,
                adjoint=adjoint,
                kinetic=kinetic,
                jacobian=jacobian,
            )
            for _ in range(blocks)
        ]
        super().__init__(Compose(*cnfs), StandardNormal(features))
