"""Time-dependent networks f(x, t, context): the dynamics of continuous normalizing flows."""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

ACTIVATIONS = {"tanh": nn.Tanh, "softplus": nn.Softplus}


class ConcatSquashLinear(nn.Module):
    """y = (W h + b) sigmoid(a t + c) + d t: a linear layer gated and shifted by the time t
    (FFJORD's 'concatsquash' layer, Grathwohl et al. 2019, arXiv:1810.01367).
    h (*batch, in), t a scalar tensor (an ODE solve) or one time per row, (*batch, 1)
    (flow matching's regression) -> (*batch, out)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.gate = nn.Linear(1, out_features)
        self.shift = nn.Linear(1, out_features, bias=False)

    def forward(self, h: Tensor, t: Tensor) -> Tensor:
        t = t.reshape(1, 1).to(h.dtype) if t.numel() == 1 else t.to(h.dtype)
        return self.linear(h) * torch.sigmoid(self.gate(t)) + self.shift(t)


class ODENet(nn.Module):
    """f(x, t, context): ConcatSquash layers with smooth activations ('tanh' or 'softplus';
    an ODE solver needs f smooth). The context is concatenated to x. The last layer starts
    at zero, so a flow built on it starts as the identity. x (*batch, D) -> (*batch, D)."""

    def __init__(
        self,
        features: int,
        hidden: tuple[int, ...] = (64, 64),
        context: int = 0,
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"ODENet: expected activation in {sorted(ACTIVATIONS)}; got {activation!r}"
            )
        sizes = [features + context, *hidden, features]
        self.layers = nn.ModuleList(ConcatSquashLinear(a, b) for a, b in itertools.pairwise(sizes))
        self.activation = ACTIVATIONS[activation]()
        self.context_features = context
        last = self.layers[-1]
        for p in (last.linear.weight, last.linear.bias, last.shift.weight):
            nn.init.zeros_(p)

    def forward(self, x: Tensor, t: Tensor, context: Tensor | None = None) -> Tensor:
        h = x if not self.context_features else torch.cat([x, context], dim=-1)
        for i, layer in enumerate(self.layers):
            h = layer(h, t)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h
