"""MADE: a masked MLP whose outputs are autoregressive in its inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..validation import after_load, check_permutation
from . import made_solve
from .made_solve import Step
from .mlp import concat_context
from .precision import conditioner, lowered


class MaskedLinear(nn.Linear):
    """y = x (W * mask)^T + b with a fixed binary mask (a buffer)."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MaskedMLP(nn.Module):
    """MADE (Germain et al. 2015, arXiv:1502.03509): x (*, D) [+ context (*, C)] ->
    (*, D, params), where the `params` outputs of feature i depend only on the features
    that come before i in the ordering (and on the context, which every unit sees).

    Degrees: feature order[k] has degree k + 1, the context degree 0; hidden units cycle
    through degrees 1 .. D - 1 (0 .. D - 1 with a context, so every output can see it); a
    unit sees the units of lower or equal degree below it, an output of degree d sees
    hidden units of degree < d. `order` is "natural", "random", or a
    permutation of 0..D-1 listing the features first to last. With `residual=True`, hidden
    layers after the first are residual blocks of two masked layers (ResMADE, Durkan et al.
    2019, arXiv:1906.04032), and all hidden sizes must be equal. `dropout` follows every
    hidden activation (train mode only). The last layer starts at zero, so a transform it
    conditions starts as the identity.
    """

    def __init__(
        self,
        features: int,
        params: int,
        hidden: Sequence[int] = (64, 64),
        context: int = 0,
        order: Literal["natural", "random"] | Tensor = "natural",
        residual: bool = False,
        activation: type[nn.Module] = nn.ReLU,
        generator: torch.Generator | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("MaskedMLP: expected at least one hidden layer")
        if residual and len(set(hidden)) != 1:
            raise ValueError(
                f"MaskedMLP: residual blocks need equal hidden sizes; got {tuple(hidden)}"
            )
        self.features, self.params, self.context_features = features, params, context
        self.register_buffer("order", _order(features, order, generator))
        self._after_load()
        self.plan_cache = made_solve.PlanCache()
        self.register_load_state_dict_post_hook(after_load)
        degree_in = self.degrees
        degree_context = torch.zeros(context, dtype=torch.long)  # seen by every unit

        # Hidden degrees cycle through 1 .. D - 1, or 0 .. D - 1 with a context: units of
        # degree 0 see only the context, and through them so does the first feature.
        # Units are laid out sorted by degree, so each degree is a slice (see `solve`).
        lowest = 0 if context else min(features - 1, 1)

        def degrees_hidden(size: int) -> Tensor:
            return (torch.arange(size) % max(features - lowest, 1) + lowest).sort().values

        previous = torch.cat([degree_in, degree_context])
        first = degrees_hidden(hidden[0])
        self.first = MaskedLinear(first[:, None] >= previous[None, :])
        self.activation = activation()
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList()
        self.residual = residual
        # Per hidden layer, ends[d] = the number of units of degree <= d: those of degree d
        # are units ends[d - 1]:ends[d], and those a unit of degree d sees below a prefix.
        self.ends = [_ends(first, features)]
        previous = first
        for size in hidden[1:]:
            current = degrees_hidden(size)
            self.ends.append(_ends(current, features))
            if residual:
                block = nn.ModuleList(
                    [MaskedLinear(current[:, None] >= previous[None, :]) for _ in range(2)]
                )
                self.blocks.append(block)
            else:
                self.blocks.append(MaskedLinear(current[:, None] >= previous[None, :]))
            previous = current
        degree_out = degree_in.repeat_interleave(params)  # output (i, p) at index i * params + p
        self.last = MaskedLinear(degree_out[:, None] > previous[None, :])
        nn.init.zeros_(self.last.weight)
        nn.init.zeros_(self.last.bias)
        self.sorted = True

    def _after_load(self) -> None:
        # In the natural order, degree order is index order: `solve` needs no gathers.
        self.natural = torch.equal(self.order.cpu(), torch.arange(self.features))
        # Units laid out by degree make every row of the hidden and output masks a prefix
        # of ones; a state dict saved with another layout (before units were sorted) has
        # other masks, and is inverted by full passes instead.
        if hasattr(self, "last"):
            masks = [m.mask for m in self.modules() if isinstance(m, MaskedLinear)][1:]
            self.sorted = all(torch.equal(m, m.cummin(-1).values) for m in masks)

    @property
    def degrees(self) -> Tensor:
        """Degree of each input feature: its position in the ordering, 1 .. D."""
        degrees = torch.empty_like(self.order)
        degrees[self.order] = torch.arange(1, self.features + 1, device=self.order.device)
        return degrees

    @conditioner
    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        h = self.first(concat_context("MaskedMLP", x, context, self.context_features))
        for block in self.blocks:
            if self.residual:
                inner = self.dropout(self.activation(block[0](self.activation(h))))
                h = h + block[1](inner)
            else:
                h = block(self.dropout(self.activation(h)))
        return self.last(self.dropout(self.activation(h))).unflatten(
            -1, (self.features, self.params)
        )

    def solve(self, z: Tensor, context: Tensor | None, step: Step) -> tuple[Tensor, Tensor]:
        """Inverts an autoregressive map: x (*, D) such that, feature by feature in the
        ordering, (x_i, v_i) = step(z_i, theta_i) with theta = this network at (x, context);
        returns x and the values v (*, D). `step` takes z (N, 1) and params (N, 1, params).
        In D steps that together cost about half a forward pass (see `made_solve`)."""
        if self.sorted and not lowered():  # the sliced solve computes in full precision
            return made_solve.solve(self, z, context, step)
        x = torch.zeros_like(z)
        for _ in range(self.features):  # pass k fixes the k-th feature of the ordering
            x, values = step(z, self(x, context))
        return x, values


def _ends(degrees: Tensor, features: int) -> list[int]:
    return [int((degrees <= d).sum()) for d in range(features + 1)]


def _order(features: int, order: str | Tensor, generator: torch.Generator | None) -> Tensor:
    if isinstance(order, str):
        if order == "natural":
            return torch.arange(features)
        if order == "random":
            return torch.randperm(features, generator=generator)
        raise ValueError(
            f"MaskedMLP: expected order 'natural', 'random' or a permutation; got {order!r}"
        )
    return check_permutation("MaskedMLP order", order, features)
