"""MADE: a masked MLP whose outputs are autoregressive in its inputs."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..validation import check_permutation
from .mlp import concat_context


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
        self._check_natural()
        self.register_load_state_dict_post_hook(lambda module, _: module._check_natural())
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
        self._ends = [_ends(first, features)]
        previous = first
        for size in hidden[1:]:
            current = degrees_hidden(size)
            self._ends.append(_ends(current, features))
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

    def _check_natural(self) -> None:
        # In the natural order, degree order is index order: `solve` needs no gathers.
        self._natural = torch.equal(self.order.cpu(), torch.arange(self.features))

    @property
    def degrees(self) -> Tensor:
        """Degree of each input feature: its position in the ordering, 1 .. D."""
        degrees = torch.empty_like(self.order)
        degrees[self.order] = torch.arange(1, self.features + 1, device=self.order.device)
        return degrees

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

        Feature k (in the ordering) needs the hidden units of degree < k, and the units of
        degree k - 1 become computable once feature k - 1 is known. So step k computes only
        those units, from prefixes of the layers below sorted by degree: the D steps
        together do the multiplications of about one forward pass (masked weights skipped),
        where re-running the whole network for each feature costs D passes. Activations
        are kept unit-major (units, N), so every prefix is contiguous.
        """
        D, P, ends, act = self.features, self.params, self._ends, self.activation
        first = self.first.weight * self.first.mask
        first_x = first[:, :D] if self._natural else first[:, self.order]
        first_b = self.first.bias[:, None]
        if self.context_features:  # the context's share of the first layer is a constant
            c = concat_context("MaskedMLP", z[..., :0], context, self.context_features)
            first_b = F.linear(c, first[:, D:], first_b[:, 0])
        batch, z = z.shape[:-1], z.reshape(-1, D)
        if self.context_features:
            first_b = first_b.expand(*batch, -1).reshape(z.shape[0], -1).T
        hidden = []  # per block: [(weight, bias)] of its masked layers
        for block in self.blocks:
            layers = block if self.residual else [block]
            hidden.append([(m.weight * m.mask, m.bias[:, None]) for m in layers])
        last = (self.last.weight * self.last.mask).unflatten(0, (D, P))
        last_b = self.last.bias.unflatten(0, (D, P))[..., None]

        # Filled so far, unit-major and in degree order: the features solved, and per
        # hidden layer its pre-activations (residual stream), activations, what the layer
        # above reads (the activations, or with dropout on, their dropped-out copy) and
        # residual blocks' inner activations.
        rows = functools.partial(_Rows, z.shape[0], z, not torch.is_grad_enabled())
        sizes = [end[-1] for end in ends]
        known, values = rows(D), []
        pre, acts, mids = ([rows(n) for n in sizes] for _ in range(3))
        dropout = self.training and self.dropout.p > 0
        reads = [rows(n) for n in sizes] if dropout else acts
        for i in self.order.tolist():
            d = known.filled  # the degree just unlocked
            for layer, end in enumerate(ends):
                lo, hi = end[d - 1] if d else 0, end[d]
                if lo == hi:
                    continue
                if layer == 0:
                    linear = (first_b[lo:hi], first_x[lo:hi, :d], known.value)
                elif not self.residual:
                    (w, b), below = hidden[layer - 1][0], reads[layer - 1]
                    linear = (b[lo:hi], w[lo:hi, : below.filled], below.value)
                else:
                    (w0, b0), (w1, b1) = hidden[layer - 1]
                    mid = act(torch.addmm(b0[lo:hi], w0[lo:hi, :hi], acts[layer - 1].value))
                    mids[layer].append(self.dropout(mid))
                    linear = (pre[layer - 1].value[lo:hi], w1[lo:hi, :hi], mids[layer].value)
                    linear = (torch.addmm(b1[lo:hi], *linear[1:]) + linear[0],)
                if self.residual:
                    a = linear[0] if len(linear) == 1 else torch.addmm(*linear)
                    pre[layer].append(a)
                    acts[layer].append(act(a))
                else:
                    acts[layer].append_activated(act, *linear)
                if dropout:
                    reads[layer].append(self.dropout(acts[layer].value[lo:hi]))
            top = reads[-1]
            params = torch.addmm(last_b[i], last[i, :, : top.filled], top.value)
            x_i, v_i = step(z[:, i : i + 1], params.T[:, None, :])
            known.append(x_i.T)
            values.append(v_i)
        x, values = known.value.T, torch.cat(values, -1)
        if not self._natural:
            unsort = self.degrees - 1
            x, values = x[:, unsort], values[:, unsort]
        return x.reshape(*batch, D), values.reshape(*batch, D)


class _Rows:
    """A (width, N) tensor filled top to bottom in blocks of rows; `value` is the part
    filled (a contiguous prefix). Without autograd, one buffer written in place; with it,
    the blocks are concatenated (autograd forbids writing into a tensor it saved)."""

    def __init__(self, n: int, like: Tensor, inplace: bool, width: int) -> None:
        self.buffer = like.new_empty(width, n) if inplace else None
        self.value, self.filled = like.new_empty(0, n), 0

    def append_activated(self, act: nn.Module, bias: Tensor, weight: Tensor, below: Tensor) -> None:
        """Appends act(bias + weight @ below); a ReLU without autograd runs in place in
        the buffer, with no temporary."""
        if self.buffer is None or type(act) is not nn.ReLU:
            self.append(act(torch.addmm(bias, weight, below)))
            return
        end = self.filled + weight.shape[0]
        torch.addmm(bias, weight, below, out=self.buffer[self.filled : end]).relu_()
        self.value, self.filled = self.buffer[:end], end

    def append(self, block: Tensor) -> None:
        end = self.filled + block.shape[0]
        if self.buffer is None:
            self.value = torch.cat([self.value, block])
        else:
            self.buffer[self.filled : end] = block
            self.value = self.buffer[:end]
        self.filled = end


Step = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


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
