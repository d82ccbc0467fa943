"""Catalogue flows as sbi density estimators (simulation-based inference, the `[sbi]`
extra), for neural posterior estimation (theta given x) and likelihood estimation (x
given theta):

    from sbi.inference import NPE
    from bijective.integrations.sbi import density_estimator

    inference = NPE(prior, density_estimator=density_estimator("nsf", transforms=5))

`density_estimator(model, **options)` is sbi's builder: called with a batch of inputs
(theta for NPE) and of conditions (x), it builds the catalogue model `model` (any
conditional flow: maf, nsf, realnvp, ...) on features = the input's size and context =
the condition's size, with `options` as its arguments, and z-scores both from those
batches as sbi's own builders do: the flow models u = (theta - m) / s given
(x - m_x) / s_x, and log p(theta | x) = log p_flow(u | .) - sum(log s).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from sbi.neural_nets.estimators import ConditionalDensityEstimator
from torch import Tensor, nn

from ..catalogue import MODELS


def _moments(batch: Tensor) -> tuple[Tensor, Tensor]:
    flat = batch.reshape(len(batch), -1)
    return flat.mean(0), flat.std(0).clamp_min(1e-8)


class BijectiveEstimator(ConditionalDensityEstimator):
    """A bijective flow (`net`) on z-scored inputs given z-scored conditions, with sbi's
    estimator interface: log_prob (sample, batch), sample (*shape, batch, D), loss."""

    def __init__(self, net: nn.Module, batch_input: Tensor, batch_condition: Tensor) -> None:
        super().__init__(net, batch_input.shape[1:], batch_condition.shape[1:])
        for name, batch in (("input", batch_input), ("condition", batch_condition)):
            shift, scale = _moments(batch)
            self.register_buffer(f"{name}_shift", shift)
            self.register_buffer(f"{name}_scale", scale)

    def _condition(self, condition: Tensor) -> Tensor:
        batch = condition.shape[: condition.dim() - len(self.condition_shape)]
        flat = condition.reshape(*batch, -1)
        return (flat - self.condition_shift) / self.condition_scale

    def log_prob(self, input: Tensor, condition: Tensor, **kwargs: Any) -> Tensor:
        input, condition, _ = self._broadcast_and_align(input, condition)
        u = (input - self.input_shift) / self.input_scale
        return self.net.log_prob(u, self._condition(condition)) - self.input_scale.log().sum()

    def loss(self, input: Tensor, condition: Tensor, **kwargs: Any) -> Tensor:
        return -self.log_prob(input.unsqueeze(0), condition)[0]

    def sample(self, sample_shape: torch.Size, condition: Tensor, **kwargs: Any) -> Tensor:
        u = self.net.sample(tuple(sample_shape), self._condition(condition))
        return u * self.input_scale + self.input_shift


def density_estimator(model: str = "nsf", **options: Any) -> Callable[..., BijectiveEstimator]:
    """sbi's builder for the catalogue flow `model` with `options` (see the module
    docstring); an unknown name or option fails here, before any simulation."""
    entry = MODELS[model]
    if "context" not in entry.from_data or "features" not in entry.from_data:
        raise ValueError(f"{model}: not a conditional flow of vectors; sbi needs one")
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise ValueError(f"{model}: no option {unknown[0]!r}; options: {', '.join(entry.options)}")

    def build(batch_input: Tensor, batch_condition: Tensor) -> BijectiveEstimator:
        features = batch_input[0].numel()
        context = batch_condition[0].numel()
        flow = entry.build(features=features, context=context, **options)
        return BijectiveEstimator(flow, batch_input, batch_condition)

    return build
