"""The likelihood protocol every model of the library satisfies: flows, dequantized flows,
VAEs, and the model families that land beside them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class Density(Protocol):
    """A model with a log-likelihood and a sampler, so one loop, one evaluation and one
    table serve every family.

    log_prob(x, context=None) -> (*batch): log p(x | context) in nats for x (*batch, *event)
    (exact for flows; a stated bound or estimate where the model has none, e.g. a VAE's
    importance-weighted estimate, a dequantized flow's variational bound).
    sample(shape=(), context=None, temperature=1.0) -> (*shape, *context_batch, *event):
    draws without gradients; temperature T < 1 concentrates the draws (the base's or the
    conditionals' spread scaled by T). Model-specific knobs are keyword-only extras after
    these arguments. A model built without a context raises on one.
    event_shape: the shape of one event, e.g. (D,) for vectors or (C, H, W) for images
    (what the trainer reshapes rows to and sizes sampling by).
    """

    event_shape: tuple[int, ...]

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor: ...

    def sample(
        self,
        shape: Sequence[int] | int = (),
        context: Tensor | None = None,
        temperature: float = 1.0,
    ) -> Tensor: ...
