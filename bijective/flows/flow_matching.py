"""Flow matching (Lipman et al. 2023, "Flow Matching for Generative Modeling"; Liu et al.
2023, rectified flow): a continuous normalizing flow whose vector field is trained by
regression onto the velocities of conditional paths from data to noise, with no ODE
solved in training, and whose likelihood is exact as FFJORD computes it (the same
`ContinuousFlow`: the instantaneous change of variables integrated by torchdiffeq, the
exact trace in evaluation).

Time runs as in FFJORD here, data at t = 0 and noise at t = 1, so the field f(x, t) is
the ODE's right-hand side directly. For a data point x and noise e ~ N(0, I):

    "ot" (linear, rectified):  x_t = (1 - t) x + t e,        u_t = e - x
    "vp" (variance preserving): x_t = a_t x + s_t e,          u_t = a'_t x + s'_t e
        a_t = exp(-B(t) / 2), B(t) = b0 t + (b1 - b0) t^2 / 2, s_t = sqrt(1 - a_t^2)

and the loss is E_{t ~ U, x, e} |f(x_t, t, c) - u_t|^2. `coupling="ot"` pairs each
minibatch's data with its noise by an optimal assignment of squared distances (Tong et
al. 2023, minibatch OT; scipy's linear_sum_assignment) instead of independently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from ..distributions import StandardNormal
from ..nn import UNet
from ..optional import require
from ..transforms import Compose, ContinuousFlow, Flatten, Transform
from ..transforms.continuous import Activation, Method, Trace
from .base import Flow

Path = Literal["ot", "vp"]
Coupling = Literal["independent", "ot"]
VP_BETA = (0.1, 20.0)  # b0, b1 of the variance-preserving schedule (Song et al. 2021)
VP_START = 1e-3  # s_t -> 0 as t -> 0 makes s'_t blow up: vp draws t from [VP_START, 1]


class _Matched(Flow):
    """A flow whose last transform is a ContinuousFlow trained by the regression of
    `path` (and `coupling`), which `training_loss` computes."""

    def __init__(self, transform: Transform, features: int, path: Path, coupling: Coupling) -> None:
        _check(path, coupling)
        super().__init__(transform, StandardNormal(features))
        self.path, self.coupling = path, coupling

    def training_loss(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """E |f(x_t, t, c) - u_t|^2 over one t ~ U and one e ~ N(0, I) per row, summed over
        the D coordinates and averaged over the rows: x (N, D), context (N, C)."""
        return regression(self, x, context, self.path, self.coupling)


def _regressed(features: int, context: int, **options: Any) -> ContinuousFlow:
    """The ContinuousFlow of a flow-matching model: its training trace is never used
    (the field is regressed, no ODE solved)."""
    return ContinuousFlow(features, context=context, trace="exact", **options)


class FlowMatching(_Matched):
    """A continuous normalizing flow on vectors trained by flow matching: `training_loss`
    (which the trainer minimises instead of the NLL) regresses the ODENet f onto the
    conditional velocities of `path`; log_prob, sample and every other Flow method run
    the ODE exactly as FFJORD does (exact trace in eval mode). x (*batch, D) -> (*batch).

    Args:
        features: D.
        context: C, the size of the context vector of a conditional flow (0: none).
        hidden: the ODENet's hidden sizes.
        path: "ot" (linear, rectified flow) or "vp" (variance preserving).
        coupling: "independent" or "ot" (minibatch optimal transport pairs).
        activation: the ODENet's activation.
        method: torchdiffeq's solver for the likelihood and sampling.
        rtol: the solver's relative tolerance.
        atol: the solver's absolute tolerance.
        max_steps: the solver's step limit.
        eval_trace: "exact" (the default: log_prob exact), or "hutchinson" (one
            Rademacher probe per row: an unbiased estimate of log_prob, O(1) backward
            passes of the field per solver step instead of D, for large D).

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.FlowMatching(features=2, hidden=(16, 16))
        >>> loss = flow.training_loss(torch.randn(64, 2))  # no ODE solved
        >>> loss.backward()
        >>> flow.eval().log_prob(torch.randn(3, 2)).shape  # exact, by the ODE
        torch.Size([3])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        hidden: Sequence[int] = (64, 64, 64),
        path: Path = "ot",
        coupling: Coupling = "independent",
        activation: Activation = "tanh",
        method: Method = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        max_steps: int = 1000,
        eval_trace: Trace = "exact",
    ) -> None:
        cnf = _regressed(
            features,
            context,
            hidden=tuple(hidden),
            activation=activation,
            eval_trace=eval_trace,
            method=method,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
        )
        super().__init__(cnf, features, path=path, coupling=coupling)


class ImageFlowMatching(_Matched):
    """Flow matching on images (C, H, W): the images flattened (bijective.transforms.
    Flatten), then a continuous flow whose field is a U-Net (bijective.nn.UNet) seeing
    them whole; trained by `training_loss` (the regression, no ODE solved), log_prob and
    sample by the ODE (exact trace in eval mode by default: C H W backward passes of the
    U-Net per solver step, so `eval_trace="hutchinson"`, an unbiased estimate, is the
    practical choice for 28 x 28). x (*batch, C, H, W) -> (*batch).

    Args:
        shape: (C, H, W).
        context: K, the size of the context vector (a one-hot class; 0: none).
        channels: the U-Net's channels at full resolution.
        levels: its resolutions.
        path: "ot" (linear) or "vp" (variance preserving), as FlowMatching's.
        coupling: "independent" or "ot" (minibatch optimal transport pairs).
        method: torchdiffeq's solver for the likelihood and sampling.
        rtol: the solver's relative tolerance.
        atol: the solver's absolute tolerance.
        max_steps: the solver's step limit.
        eval_trace: "exact" or "hutchinson" (an unbiased estimate), as FlowMatching's.

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.flows.ImageFlowMatching((1, 4, 4), channels=8, levels=2)
        >>> flow.training_loss(torch.randn(5, 1, 4, 4)).shape
        torch.Size([])
    """

    def __init__(
        self,
        shape: Sequence[int],
        context: int = 0,
        channels: int = 32,
        levels: int = 2,
        path: Path = "ot",
        coupling: Coupling = "independent",
        method: Method = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        max_steps: int = 1000,
        eval_trace: Trace = "exact",
    ) -> None:
        features = math.prod(shape)
        cnf = _regressed(
            features,
            context,
            eval_trace=eval_trace,
            method=method,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
            field=UNet(shape, channels=channels, levels=levels, context=context),
        )
        transform = Compose(Flatten(shape), cnf)
        super().__init__(transform, features, path=path, coupling=coupling)


def _check(path: str, coupling: str) -> None:
    if path not in ("ot", "vp"):
        raise ValueError(f"FlowMatching: expected path 'ot' or 'vp'; got {path!r}")
    if coupling not in ("independent", "ot"):
        raise ValueError(f"FlowMatching: expected coupling 'independent' or 'ot'; got {coupling!r}")


def regression(
    flow: Flow, x: Tensor, context: Tensor | None, path: Path, coupling: Coupling
) -> Tensor:
    """The flow-matching loss of a flow whose transform is a ContinuousFlow, or a Compose
    ending in one: the transforms before it (`dequantized`'s logit and ActNorm) map x to
    the field's inputs, without gradient (they are fixed maps here; the likelihood still
    counts their log-dets)."""
    *prefix, transform = _leaves(flow.transform)
    with torch.no_grad():
        for step in prefix:
            x = step._forward(x, context)[0]
    noise = torch.randn_like(x)
    if coupling == "ot":
        noise = noise[paired(x, noise)]
    low = VP_START if path == "vp" else 0.0
    t = low + (1 - low) * torch.rand(x.shape[0], 1, dtype=x.dtype, device=x.device)
    xt, velocity = conditional_path(path, x, noise, t)
    field = transform.dynamics.net(xt, t, context)
    return (field - velocity).square().sum(-1).mean()


def _leaves(transform: Transform) -> list[Transform]:
    """The transforms of a chain, nested Composes opened (a dequantized image flow's
    logit, then the flow's own Flatten and ContinuousFlow)."""
    if not isinstance(transform, Compose):
        return [transform]
    return [leaf for step in transform.transforms for leaf in _leaves(step)]


def conditional_path(path: Path, x: Tensor, noise: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """(x_t, u_t = dx_t/dt) of the path from x (t = 0) to noise (t = 1); t (N, 1)."""
    if path == "ot":
        return (1 - t) * x + t * noise, noise - x
    b0, b1 = VP_BETA
    a = torch.exp(-(b0 * t + (b1 - b0) * t * t / 2) / 2)
    s = torch.sqrt(1 - a * a)
    da = -(b0 + (b1 - b0) * t) / 2 * a  # a'_t = -beta(t) a_t / 2
    return a * x + s * noise, da * x - a * da / s * noise  # s'_t = -a_t a'_t / s_t


def paired(x: Tensor, noise: Tensor) -> Tensor:
    """The permutation of the noise rows minimising sum_i |x_i - noise_pi(i)|^2."""
    optimize = require("scipy.optimize", "scipy", "FlowMatching's coupling='ot'")
    cost = torch.cdist(x.detach(), noise).square().cpu().double().numpy()
    rows, columns = optimize.linear_sum_assignment(cost)
    order = torch.empty(len(rows), dtype=torch.long)
    order[torch.as_tensor(rows)] = torch.as_tensor(columns)
    return order.to(x.device)
