"""A flow: a transform from data to latent plus a base distribution on the latent."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, distributions, nn

from ..distributions import Distribution
from ..transforms.base import Transform
from ..validation import (
    Shape,
    check_context,
    check_event,
    check_finite,
    validation_enabled,
)


class Flow(nn.Module):
    """p(x) = p_z(f(x)) |det df/dx| for a transform f (data x -> latent z) and a base p_z.

    log_prob(x) is exact: log p_z(f(x)) + ladj. Sampling draws z ~ p_z and returns
    f^{-1}(z). Every method takes an optional `context` (*batch, C) for conditional flows.
    Shapes: x (*batch, *event_shape); log_prob -> (*batch); sample(shape) ->
    (*shape, *context_batch, *event_shape).
    """

    def __init__(self, transform: Transform, base: Distribution) -> None:
        super().__init__()
        if not isinstance(transform, Transform):
            raise TypeError(f"Flow: expected a bijective Transform; got {type(transform).__name__}")
        if not isinstance(base, Distribution):
            raise TypeError(
                f"Flow: expected a bijective.distributions.Distribution as base; "
                f"got {type(base).__name__}"
            )
        latent = transform.latent_shape
        if latent is not None and latent != base.event_shape:
            raise ValueError(
                f"Flow: the transform outputs events of shape {latent} but the base "
                f"distribution has event shape {base.event_shape}"
            )
        self.transform = transform
        self.base = base
        self.event_shape: Shape = (
            transform.event_shape if transform.event_shape is not None else base.event_shape
        )

    def _check_data(self, where: str, x: object, context: object, finite: bool) -> None:
        batch = check_event(where, "x", x, self.event_shape)
        if finite:
            check_finite(where, "x", x)
        check_context(where, context, self.transform.context_features, batch)

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | context), shape (*batch)."""
        if validation_enabled():
            self._check_data("Flow.log_prob", x, context, finite=True)
        z, ladj = self.transform._forward(x, context)
        return self.base.log_prob(z) + ladj

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.log_prob(x, context)

    def _latent_and_context(
        self, where: str, shape: Sequence[int] | int, context: Tensor | None, temperature: float
    ) -> tuple[Tensor, Tensor | None]:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if validation_enabled():
            check_context(where, context, self.transform.context_features)
        if context is not None and self.transform.context_features:
            shape = shape + tuple(context.shape[:-1])
            context = context.expand(*shape, context.shape[-1])
        return self.base.rsample(shape, temperature), context

    def rsample(
        self,
        shape: Sequence[int] | int = (),
        context: Tensor | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """Samples x = f^{-1}(z), z ~ p_z at `temperature`, keeping gradients to the parameters."""
        z, context = self._latent_and_context("Flow.rsample", shape, context, temperature)
        return self.transform._inverse(z, context)[0]

    def sample(
        self,
        shape: Sequence[int] | int = (),
        context: Tensor | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """Samples without gradients; temperature T scales the base's standard deviation
        (Glow's reduced-temperature sampling: T < 1 trades diversity for fidelity)."""
        with torch.no_grad():
            return self.rsample(shape, context, temperature)

    def sample_and_log_prob(
        self, shape: Sequence[int] | int = (), context: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """(x, log p(x)) in one pass with reparameterised gradients: the reverse-KL workhorse.
        log p(x) = log p_z(z) - log|det df^{-1}/dz| at z, no forward pass needed."""
        z, context = self._latent_and_context("Flow.sample_and_log_prob", shape, context, 1.0)
        x, ladj = self.transform._inverse(z, context)
        return x, self.base.log_prob(z) - ladj

    def encode(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """The latent z = f(x)."""
        if validation_enabled():
            self._check_data("Flow.encode", x, context, finite=False)
        return self.transform._forward(x, context)[0]

    def decode(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """The data x = f^{-1}(z)."""
        if validation_enabled():
            where = "Flow.decode"
            batch = check_event(where, "z", z, self.base.event_shape)
            check_context(where, context, self.transform.context_features, batch)
        return self.transform._inverse(z, context)[0]

    def as_distribution(self, context: Tensor | None = None) -> FlowDistribution:
        """This flow (at `context`) as a torch.distributions.Distribution."""
        return FlowDistribution(self, context)


class FlowDistribution(distributions.Distribution):
    """A torch.distributions view of a Flow: log_prob, sample and rsample call the flow, so it
    plugs into code written for torch distributions. Batch shape = the context's batch shape."""

    has_rsample = True
    arg_constraints: dict = {}

    def __init__(self, flow: Flow, context: Tensor | None = None) -> None:
        check_context("Flow.as_distribution", context, flow.transform.context_features)
        self.flow = flow
        self.context = context
        batch = torch.Size(context.shape[:-1]) if context is not None else torch.Size()
        super().__init__(batch, torch.Size(flow.event_shape), validate_args=False)

    @property
    def support(self) -> distributions.constraints.Constraint:
        return distributions.constraints.independent(
            distributions.constraints.real, len(self.event_shape)
        )

    def log_prob(self, value: Tensor) -> Tensor:
        return self.flow.log_prob(value, self.context)

    def rsample(self, sample_shape: Sequence[int] = torch.Size()) -> Tensor:
        return self.flow.rsample(sample_shape, self.context)

    def sample(self, sample_shape: Sequence[int] = torch.Size()) -> Tensor:
        return self.flow.sample(sample_shape, self.context)
