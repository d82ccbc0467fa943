"""A flow: a transform from data to latent plus a base distribution on the latent."""

from __future__ import annotations

import copy
import importlib.util
import itertools
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, distributions, nn

from ..distributions import Distribution
from ..recorded import Recorded
from ..transforms.base import (
    Compose,
    Transform,
    empty_batch,
    empty_outputs,
    logdet_discarded,
)
from ..validation import (
    Shape,
    check_context,
    check_dtype,
    check_event,
    check_finite,
    check_sampling,
    validation_enabled,
)


class Flow(Recorded, nn.Module):
    """p(x) = p_z(f(x)) |det df/dx| for a transform f (data x -> latent z) and a base p_z.

    log_prob(x) is exact: log p_z(f(x)) + ladj. Sampling draws z ~ p_z and returns
    f^{-1}(z). Every method takes an optional `context` (*batch, C) for conditional flows.
    Shapes: x (*batch, *event_shape); log_prob -> (*batch); sample(shape) ->
    (*shape, *context_batch, *event_shape).

    Args:
        transform: f, data to latent.
        base: p_z, the base distribution on the latent.

    Example:
        >>> import torch, bijective as bj
        >>> flow = bj.Flow(bj.transforms.Affine(2), bj.distributions.StandardNormal(2))
        >>> flow.log_prob(torch.zeros(3, 2)).shape
        torch.Size([3])
        >>> flow.sample((4,)).shape
        torch.Size([4, 2])
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
        self.event_shape = _event_shape(transform, base)

    def prefixed(self, *steps: Transform) -> Flow:
        """This flow, of its class and settings (a TarFlow's guidance, flow matching's
        loss), with `steps` applied to x before its transform: log p(x) gains their
        log-dets. The parameters are shared with this flow, not copied."""
        flow = copy.copy(self)
        for table in ("_parameters", "_buffers", "_modules"):
            flow.__dict__[table] = dict(self.__dict__[table])
        flow.transform = Compose(*steps, self.transform)
        flow.event_shape = _event_shape(flow.transform, self.base)
        return flow

    def _dtype(self) -> torch.dtype | None:
        """The floating dtype of the parameters (None for a flow without any)."""
        tensors = itertools.chain(self.parameters(), self.buffers())
        return next((t.dtype for t in tensors if t.is_floating_point()), None)

    def _check_data(
        self,
        where: str,
        x: object,
        context: object,
        finite: bool,
        shape: Shape | None = None,
        name: str = "x",
    ) -> None:
        batch = check_event(where, name, x, self.event_shape if shape is None else shape)
        dtype = self._dtype()
        check_dtype(where, name, x, dtype)
        if finite:
            check_finite(where, name, x)
        check_context(where, context, self.transform.context_features, batch, dtype)

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | context), shape (*batch). Validation (on by default) refuses NaN or
        infinite x, and warns when finite x get a log-density of -inf or NaN (values far
        outside the data's scale, e.g. 1e30, overflow float32: standardise the data)."""
        validate = validation_enabled()
        if validate:
            self._check_data("Flow.log_prob", x, context, finite=True)
        if empty_batch(x, self.event_shape, self.base.event_shape):
            return empty_outputs(x, self.event_shape, self.base.event_shape)[1]
        z, ladj = self.transform._forward(x, context)
        log_p = self.base.log_prob(z) + ladj
        if validate and not self.base.bounded:  # a bounded base's -inf is no overflow
            warn_not_finite("Flow.log_prob", x, log_p)
        return log_p

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.log_prob(x, context)

    def _latent_and_context(
        self, where: str, shape: Sequence[int] | int, context: Tensor | None, temperature: float
    ) -> tuple[Tensor, Tensor | None]:
        shape = check_sampling(
            where, shape, temperature, context, self.transform.context_features, self._dtype()
        )
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
        with logdet_discarded():
            return self._decode(z, context)[0]

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
        x, ladj = self._decode(z, context)
        return x, self.base.log_prob(z) - ladj

    def _decode(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        """f^{-1}(z) and its ladj; empty outputs for an empty batch."""
        if empty_batch(z, self.base.event_shape, self.event_shape):
            return empty_outputs(z, self.base.event_shape, self.event_shape)
        return self.transform._inverse(z, context)

    def encode(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """The latent z = f(x)."""
        if validation_enabled():
            self._check_data("Flow.encode", x, context, finite=False)
        if empty_batch(x, self.event_shape, self.base.event_shape):
            return empty_outputs(x, self.event_shape, self.base.event_shape)[0]
        with logdet_discarded():
            return self.transform._forward(x, context)[0]

    def decode(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """The data x = f^{-1}(z)."""
        if validation_enabled():
            self._check_data(
                "Flow.decode", z, context, finite=False, shape=self.base.event_shape, name="z"
            )
        with logdet_discarded():
            return self._decode(z, context)[0]

    def as_distribution(self, context: Tensor | None = None) -> FlowDistribution:
        """This flow (at `context`) as a torch.distributions.Distribution; with pyro
        installed, one pyro.sample takes directly (bijective.integrations.pyro)."""
        if importlib.util.find_spec("pyro") is not None:
            from ..integrations.pyro import pyro_class

            return pyro_class(FlowDistribution)(self, context)
        return FlowDistribution(self, context)


def _event_shape(transform: Transform, base: Distribution) -> Shape:
    """The shape of one x: the transform's, or (a transform of any shape) the base's."""
    return transform.event_shape if transform.event_shape is not None else base.event_shape


def warn_not_finite(where: str, x: Tensor, log_p: Tensor) -> None:
    """A RuntimeWarning when finite inputs get a non-finite log-density: outside the
    support, or overflow (float32 overflows near 3e38: |x| = 1e30 squared is inf)."""
    bad = ~torch.isfinite(log_p)
    if bad.any():
        largest = float(x.detach().abs().max())
        warnings.warn(
            f"{where}: {int(bad.sum())} of {bad.numel()} log-densities are -inf or NaN for "
            f"finite inputs (largest |x| = {largest:.3g}): outside the model's support, or "
            "overflow; standardise the data. A loss on them gives NaN gradients.",
            RuntimeWarning,
            stacklevel=3,
        )


class FlowDistribution(distributions.Distribution):
    """A torch.distributions view of a Flow: log_prob, sample and rsample call the flow, so it
    plugs into code written for torch distributions. Batch shape = the context's batch shape,
    or `batch_shape` (`expand`): independent copies of the flow's distribution.

    Args:
        flow: the flow.
        context: the context every call conditions on (None: none), (*batch, C).
        batch_shape: the batch shape of an unconditional flow's distribution (() if None).

    Example:
        >>> import torch, bijective as bj
        >>> q = bj.flows.MAF(2, transforms=1, hidden=(8,)).as_distribution()
        >>> q.rsample((5,)).shape, q.log_prob(torch.zeros(2)).shape
        (torch.Size([5, 2]), torch.Size([]))
    """

    has_rsample = True
    arg_constraints: dict = {}

    def __init__(
        self, flow: Flow, context: Tensor | None = None, batch_shape: Sequence[int] | None = None
    ) -> None:
        check_context("Flow.as_distribution", context, flow.transform.context_features)
        self.flow = flow
        self.context = context
        batch = torch.Size(context.shape[:-1] if context is not None else batch_shape or ())
        super().__init__(batch, torch.Size(flow.event_shape), validate_args=False)

    def expand(
        self, batch_shape: Sequence[int], _instance: FlowDistribution | None = None
    ) -> FlowDistribution:
        """The distribution with batch shape `batch_shape` (the context broadcast to it)."""
        batch = torch.Size(batch_shape)
        if self.context is None:
            return type(self)(self.flow, None, batch)
        return type(self)(self.flow, self.context.expand(*batch, self.context.shape[-1]))

    @property
    def support(self) -> distributions.constraints.Constraint:
        return distributions.constraints.independent(
            distributions.constraints.real, len(self.event_shape)
        )

    def log_prob(self, value: Tensor) -> Tensor:
        return self.flow.log_prob(value, self.context)

    def _shape(self, sample_shape: Sequence[int]) -> tuple[int, ...]:
        """The flow's sample shape: with a context, its batch comes from the context."""
        extra = () if self.context is not None else tuple(self.batch_shape)
        return tuple(sample_shape) + extra

    def rsample(self, sample_shape: Sequence[int] = torch.Size()) -> Tensor:
        return self.flow.rsample(self._shape(sample_shape), self.context)

    def sample(self, sample_shape: Sequence[int] = torch.Size()) -> Tensor:
        return self.flow.sample(self._shape(sample_shape), self.context)
