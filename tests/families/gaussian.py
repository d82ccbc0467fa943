"""A toy model family, not shipped: a class-conditional diagonal Gaussian. Adding it to
the library is this module plus one catalogue line (see tests/train/test_new_family.py)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bijective.validation import check_context


class DiagonalGaussian(nn.Module):
    """p(x | c) = N(x; mu + W c, diag sigma^2): `features` D, `context` C (0: no W)."""

    def __init__(self, features: int, context: int = 0, init_scale: float = 1.0) -> None:
        super().__init__()
        self.event_shape, self.context_features = (features,), context
        self.loc = nn.Parameter(torch.zeros(features))
        self.log_scale = nn.Parameter(torch.full((features,), float(init_scale)).log())
        self.shift = nn.Linear(context, features, bias=False) if context else None

    def _mean(self, context: Tensor | None) -> Tensor:
        return self.loc if self.shift is None else self.loc + self.shift(context)

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        check_context("DiagonalGaussian.log_prob", context, self.context_features)
        normal = torch.distributions.Normal(self._mean(context), self.log_scale.exp())
        return normal.log_prob(x).sum(-1)

    @torch.no_grad()
    def sample(
        self,
        shape: Sequence[int] | int = (),
        context: Tensor | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        check_context("DiagonalGaussian.sample", context, self.context_features)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        mean = self._mean(context)
        noise = torch.randn(*shape, *mean.shape, dtype=mean.dtype, device=mean.device)
        return mean + temperature * self.log_scale.exp() * noise
