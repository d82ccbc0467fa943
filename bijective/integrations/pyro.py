"""A flow as a pyro distribution: Flow.as_distribution returns FlowDistribution mixed with
pyro's TorchDistributionMixin whenever pyro is installed, so `pyro.sample("z",
flow.as_distribution())` works in models and guides, including vectorised particles
(`Trace_ELBO(vectorize_particles=True)`, which expands the batch shape) and plates.
Register the flow's parameters with `pyro.module("flow", flow)`.
"""

from __future__ import annotations

import functools

from pyro.distributions.torch_distribution import TorchDistributionMixin


@functools.cache
def pyro_class(distribution: type) -> type:
    """`distribution` (a torch Distribution class) with pyro's mixin: what pyro.sample,
    plates and pyro's ELBOs call on a distribution."""
    return type(f"Pyro{distribution.__name__}", (distribution, TorchDistributionMixin), {})
