"""Contractive residual blocks z = x + g(x), Lip(g) < 1: the i-ResNet and Residual Flows.

Behrmann et al. 2019 (arXiv:1811.00995): x + g(x) is invertible when Lip(g) < 1, its
inverse is the fixed point of x = z - g(x), and log det(I + J_g) is a convergent power
series. Chen et al. 2019 (arXiv:1906.02735): an unbiased estimate of that series by a
random truncation, and a gradient that needs no graph of the series.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ..nn.lipschitz import LipschitzConvNet, LipschitzMLP
from ..validation import Shape
from .base import Transform, batch_shape, logdet_is_discarded
from .jacobians import exact_logdet, rademacher, roulette_logdet, series_logdet, vjp
from .roots import fixed_point

LogDet = Literal["roulette", "series", "exact"]
LipschitzActivation = Literal["lipswish", "elu", "tanh"]


class ContractiveResidual(Transform):
    """z = x + net(x, context) for a Lipschitz network `net` with Lip <= coeff < 1, set by the
    subclass after this constructor has checked the settings: the log-dets, the fixed-point
    inverse and its implicit gradients of InvertibleResidual (documented there) and
    ConvInvertibleResidual."""

    def __init__(
        self,
        event_shape: Shape,
        context: int | None,
        coeff: float,
        logdet: LogDet,
        terms: int,
        p: float,
        eval_logdet: LogDet,
        eval_terms: int,
        inverse_rtol: float | None,
        max_iterations: int,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        if not 0 < coeff < 1:
            raise ValueError(
                f"{where}: expected a Lipschitz coefficient 0 < coeff < 1 (x + g(x) is "
                f"invertible only when Lip(g) < 1); got coeff={coeff}"
            )
        for name, value in (("logdet", logdet), ("eval_logdet", eval_logdet)):
            if value not in ("roulette", "series", "exact"):
                raise ValueError(
                    f"{where}: expected {name} in 'roulette', 'series', 'exact'; got {value!r}"
                )
        if terms < 1 or eval_terms < 1 or max_iterations < 1:
            raise ValueError(
                f"{where}: expected terms, eval_terms, max_iterations >= 1; "
                f"got {terms}, {eval_terms}, {max_iterations}"
            )
        if not 0 < p < 1:
            raise ValueError(f"{where}: expected a roulette probability 0 < p < 1; got {p}")
        self.coeff, self.logdet, self.terms, self.p = coeff, logdet, terms, p
        self.eval_logdet, self.eval_terms, self.max_iterations = (
            eval_logdet,
            eval_terms,
            max_iterations,
        )
        self.event_shape = tuple(event_shape)
        self.context_features = context
        self.inverse_rtol = inverse_rtol

    def _rtol(self, x: Tensor) -> float:
        if self.inverse_rtol is not None:
            return self.inverse_rtol
        return 1e-10 if x.dtype == torch.float64 else 1e-6

    def _ladj(self, g: Tensor, x: Tensor, graph: bool) -> Tensor:
        mode = self.logdet if self.training else self.eval_logdet
        if mode == "exact":
            return exact_logdet(g, x, graph)
        if mode == "series":
            return series_logdet(g, x, rademacher(x), self.terms, graph)
        terms = self.terms if self.training else self.eval_terms
        return roulette_logdet(g, x, rademacher(x), terms, self.p, graph)

    def _g_and_ladj(
        self, x: Tensor, context: Tensor | None, weights: list[Tensor]
    ) -> tuple[Tensor, Tensor]:
        """g(x) and log det(I + J_g(x)), differentiable when grad mode is on."""
        graph = torch.is_grad_enabled()
        with torch.enable_grad():
            leaf = x if graph and x.requires_grad else x.detach().requires_grad_()
            g = self.net(leaf, context, weights)
            ladj = self._ladj(g, leaf, graph)
        return (g, ladj) if graph else (g.detach(), ladj.detach())

    def _flat(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor | None, Shape]:
        """x as (N, *event), the context as (N, C), and the batch shape."""
        batch = batch_shape(x, len(self.event_shape))
        flat = x.reshape(-1, *self.event_shape)
        if context is not None and self.context_features:
            context = context.expand(*batch, context.shape[-1]).reshape(len(flat), -1)
        return flat, context, batch

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        flat, context, batch = self._flat(x, context)
        if x.numel() == 0:
            return x.clone(), x.new_zeros(batch)
        if logdet_is_discarded():  # g alone: no Jacobian products
            return (flat + self.net(flat, context)).reshape(x.shape), x.new_zeros(batch)
        g, ladj = self._g_and_ladj(flat, context, self.net.weights())
        return (flat + g).reshape(x.shape), ladj.reshape(batch)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        flat, context, batch = self._flat(z, context)
        if z.numel() == 0:
            return z.clone(), z.new_zeros(batch)
        weights = self.net.weights()
        rtol, where = self._rtol(z), f"{type(self).__name__}.inverse"
        advice = (
            f"; raise max_iterations (now {self.max_iterations}), loosen inverse_rtol, "
            f"or lower the Lipschitz coefficient coeff (now {self.coeff})"
        )
        try:
            x = fixed_point(
                lambda a: flat - self.net(a, context, weights),
                flat.detach(),
                rtol,
                self.max_iterations,
                where,
            )
        except RuntimeError as error:
            raise type(error)(str(error) + advice) from None
        if torch.is_grad_enabled():
            x = self._implicit(flat, x, context, weights, rtol)
        if logdet_is_discarded():
            return x.reshape(z.shape), z.new_zeros(batch)
        # A view: the Jacobian products below stop at it and never fire x's hook.
        _, ladj = self._g_and_ladj(x.view_as(x), context, weights)
        return x.reshape(z.shape), -ladj.reshape(batch)

    def _implicit(
        self, z: Tensor, root: Tensor, context: Tensor | None, weights: list[Tensor], rtol: float
    ) -> Tensor:
        """x = z - g(x) at the root, with implicit gradients: the backward hook turns dL/dx
        into a = dL/dx - J_g^T a, which x = z - g(root) then carries to z, the parameters
        and the context."""
        leaf = root.detach().requires_grad_()
        with torch.enable_grad():
            g = self.net(leaf, context, weights)
        x = z - g
        if x.requires_grad:
            where = f"{type(self).__name__}.inverse (backward)"

            def solve(grad: Tensor) -> Tensor:
                step = lambda a: grad - vjp(g, leaf, a, graph=False)  # noqa: E731
                return fixed_point(step, grad, rtol, self.max_iterations, where)

            x.register_hook(solve)
        return x

    def extra_repr(self) -> str:
        return f"coeff={self.coeff}, logdet={self.logdet!r}, eval_logdet={self.eval_logdet!r}"


class InvertibleResidual(ContractiveResidual):
    """z = x + g(x, context) with Lip_x(g) <= coeff < 1 (g: a LipschitzMLP).

    Forward (data -> latent) is explicit. ladj = log det(I + J_g) is well defined: every
    eigenvalue of J_g has modulus < 1, so I + J_g has eigenvalues of positive real part and
    det(I + J_g) > 0. It is computed by `logdet` in training mode and `eval_logdet` in eval
    mode:
      'roulette'  Residual Flows' unbiased estimate with the Neumann-series gradient:
                  `terms` terms always, Geometric(`p`) more (`eval_terms` in eval mode);
      'series'    the i-ResNet's power series truncated at `terms` (biased, O(coeff^terms));
      'exact'     the full Jacobian by D backward passes and a slogdet (small D).
    Traces by Hutchinson with Rademacher noise, one vector per row and call.

    Inverse: x_{k+1} = z - g(x_k) from x_0 = z, a contraction with rate <= coeff, until each
    change is below `inverse_rtol` (1e-10 in float64, 1e-6 in float32 by default), at most
    `max_iterations` (then ConvergenceError). Gradients through the inverse by the implicit
    function theorem: dL/dz = a with a = dL/dx - J_g^T a, itself a fixed point.
    Shapes: x, z (*batch, D); context (*batch, C); ladj (*batch).

    Args:
        features: D.
        hidden: the hidden sizes of g, a spectral-normalised MLP.
        context: C, the size of a context vector g reads (0: none).
        coeff: the bound on Lip(g), < 1.
        activation: g's 1-Lipschitz activation ("lipswish", "elu", "relu", "tanh", ...).
        logdet: the log-det in training mode: "roulette", "series" or "exact".
        terms: the terms always computed by "roulette" and "series".
        p: the Geometric parameter of the extra terms of "roulette".
        eval_logdet: the log-det in eval mode.
        eval_terms: the exact terms of "roulette" in eval mode.
        inverse_rtol: the fixed-point inverse's tolerance (by dtype if None).
        max_iterations: the fixed-point inverse's limit (then ConvergenceError).
        generator: draws the Hutchinson noise (torch's global one if None).

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.InvertibleResidual(2, hidden=(16,)).eval()  # exact log-det
        >>> x = torch.randn(4, 2)
        >>> z, ladj = f(x)
        >>> torch.allclose(f.inverse(z)[0], x, atol=1e-4)
        True
    """

    def __init__(
        self,
        features: int,
        hidden: tuple[int, ...] = (64, 64),
        context: int = 0,
        coeff: float = 0.97,
        activation: LipschitzActivation = "lipswish",
        logdet: LogDet = "roulette",
        terms: int = 2,
        p: float = 0.5,
        eval_logdet: LogDet = "exact",
        eval_terms: int = 20,
        inverse_rtol: float | None = None,
        max_iterations: int = 1000,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            (features,),
            context=context,
            coeff=coeff,
            logdet=logdet,
            terms=terms,
            p=p,
            eval_logdet=eval_logdet,
            eval_terms=eval_terms,
            inverse_rtol=inverse_rtol,
            max_iterations=max_iterations,
        )
        self.net = LipschitzMLP(
            features,
            tuple(hidden),
            context=context,
            coeff=coeff,
            activation=activation,
            iterations=20,
            generator=generator,
        )


class ConvInvertibleResidual(ContractiveResidual):
    """z = x + g(x) on images (C, H, W), g a LipschitzConvNet (3x3, 1x1, 3x3 spectral-normalised
    convolutions, `channels` hidden; Chen et al. 2019's image block) with Lip(g) <= coeff.

    Log-dets, inverse and gradients as InvertibleResidual's. The exact log-det needs C H W
    backward passes, so eval mode estimates it by default (`eval_logdet='roulette'` with
    `eval_terms` exact terms; Residual Flows' evaluation); 'exact' remains available for
    small images.
    x, z (*batch, C, H, W); ladj (*batch).

    Args:
        shape: the image shape (C, H, W).
        channels: g's hidden channels.
        coeff: the bound on Lip(g), < 1.
        activation: g's 1-Lipschitz activation.
        logdet: the log-det in training mode: "roulette", "series" or "exact".
        terms: the terms always computed by "roulette" and "series".
        p: the Geometric parameter of the extra terms of "roulette".
        eval_logdet: the log-det in eval mode ("roulette" by default: exact needs C H W passes).
        eval_terms: the exact terms of "roulette" in eval mode.
        inverse_rtol: the fixed-point inverse's tolerance (by dtype if None).
        max_iterations: the fixed-point inverse's limit (then ConvergenceError).

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.ConvInvertibleResidual((1, 4, 4), channels=8)
        >>> z, ladj = f(torch.randn(2, 1, 4, 4))
        >>> z.shape, ladj.shape
        (torch.Size([2, 1, 4, 4]), torch.Size([2]))
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        channels: int = 64,
        coeff: float = 0.97,
        activation: LipschitzActivation = "lipswish",
        logdet: LogDet = "roulette",
        terms: int = 2,
        p: float = 0.5,
        eval_logdet: LogDet = "roulette",
        eval_terms: int = 20,
        inverse_rtol: float | None = None,
        max_iterations: int = 1000,
    ) -> None:
        super().__init__(
            shape,
            context=None,
            coeff=coeff,
            logdet=logdet,
            terms=terms,
            p=p,
            eval_logdet=eval_logdet,
            eval_terms=eval_terms,
            inverse_rtol=inverse_rtol,
            max_iterations=max_iterations,
        )
        self.net = LipschitzConvNet(self.event_shape, channels, coeff, activation)
