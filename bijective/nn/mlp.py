"""Multilayer perceptron conditioner."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .precision import conditioner


class MLP(nn.Module):
    """x (*batch, in_features) [and context (*batch, context)] -> (*batch, out_features).

    Linear layers with `activation` (then dropout with probability `dropout`, active in
    train mode only) between them; the context, when the network has one, is concatenated
    to the input. The last layer starts at zero (`zero_init`), so a flow layer
    it conditions starts as the identity (as nflows and zuko do).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (64, 64),
        context: int = 0,
        activation: type[nn.Module] = nn.ReLU,
        zero_init: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.context_features = context
        sizes = [in_features + context, *hidden, out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            if i > 0:
                layers.append(activation())
                if dropout:
                    layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(a, b))
        if zero_init:
            nn.init.zeros_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)
        self.net = nn.Sequential(*layers)

    @conditioner
    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.net(concat_context("MLP", x, context, self.context_features))


def concat_context(where: str, x: Tensor, context: Tensor | None, features: int) -> Tensor:
    """[x, context] along the last dimension, the context broadcast over x's batch shape;
    x itself for a network built without context (features = 0)."""
    if not features:
        return x
    if context is None:
        raise ValueError(f"{where}: built with context={features}; got no context")
    return torch.cat([x, context.expand(*x.shape[:-1], -1)], dim=-1)
