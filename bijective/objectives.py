"""Training objectives and the likelihood figures reported for them."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def nll(model: nn.Module, x: Tensor, context: Tensor | None = None) -> Tensor:
    """Forward KL up to a constant: the mean negative log-likelihood -mean log p(x), in nats,
    of any model with `log_prob(x, context)`."""
    return -model.log_prob(x, context).mean()


@torch.no_grad()
def mean_nll(
    model: nn.Module, x: Tensor, context: Tensor | None = None, batch: int = 4096
) -> float:
    """The mean NLL of x in eval mode, in chunks of `batch` rows (the mode is restored)."""
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(x), batch):
        c = None if context is None else context[i : i + batch]
        total -= float(model.log_prob(x[i : i + batch], c).double().sum())
    model.train(was_training)
    return total / len(x)
