"""Inverting a MADE-conditioned autoregressive map in degree slices (`MaskedMLP.solve`).

Feature k (in the ordering) needs the MADE's hidden units of degree < k, and the units of
degree k - 1 become computable once feature k - 1 is known. So step k computes only those
units, from prefixes of the layers below (units are laid out sorted by degree): the D
steps together multiply as much as about half a forward pass, where re-running the
network for each feature costs D passes. Activations are kept unit-major (units, N), so
every prefix is contiguous.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mlp import concat_context

Step = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


class Sliced(Protocol):
    """What the solve reads of a MADE (bijective.nn.MaskedMLP): its masked layers, and
    the layout of its units by degree."""

    features: int  # D
    params: int  # outputs per feature
    context_features: int
    order: Tensor  # the features, first to last
    degrees: Tensor  # feature i's position in the ordering, 1..D
    natural: bool  # order is 0..D-1
    ends: list[list[int]]  # per hidden layer, ends[d]: its units of degree <= d
    first: nn.Linear  # masked layers: .weight, .mask, .bias
    blocks: nn.ModuleList  # a masked layer per hidden layer, or a pair when residual
    last: nn.Linear
    residual: bool
    activation: nn.Module
    dropout: nn.Dropout
    training: bool
    plan_cache: PlanCache

    def parameters(self) -> Any: ...
    def buffers(self) -> Any: ...


def solve(net: Sliced, z: Tensor, context: Tensor | None, step: Step) -> tuple[Tensor, Tensor]:
    """See `MaskedMLP.solve`: x (*, D) and the values (*, D) of the steps. Without
    autograd the D small steps run in inference mode (no version counters or autograd
    records: about a quarter of their time), and the results leave it as plain tensors."""
    if torch.is_grad_enabled() or torch.compiler.is_exporting():
        return _solve(net, z, context, step)
    with torch.inference_mode():
        x, values = _solve(net, z, context, step)
    return x.clone(), values.clone()


def _solve(net: Sliced, z: Tensor, context: Tensor | None, step: Step) -> tuple[Tensor, Tensor]:
    D, act = net.features, net.activation
    plan = _plan(net)
    first_b = None  # the first layer's bias: in the plan, unless a context shifts it
    if net.context_features:
        c = concat_context("MaskedMLP", z[..., :0], context, net.context_features)
        first = net.first.weight[:, D:] * net.first.mask[:, D:]
        first_b = F.linear(c, first, net.first.bias).expand(*z.shape[:-1], -1)
        first_b = first_b.reshape(-1, first_b.shape[-1]).T
    batch, z = z.shape[:-1], z.reshape(-1, D)

    # Filled so far, in degree order: the features solved, and per hidden layer its
    # pre-activations (residual stream), activations, what the layer above reads (the
    # activations, or with dropout on, their dropped-out copy) and residual blocks'
    # inner activations.
    rows = functools.partial(_Rows, z.shape[0], z, not torch.is_grad_enabled())
    sizes = [end[-1] for end in net.ends]
    known, values = rows(D), []
    pre, acts, mids = ([rows(n) for n in sizes] for _ in range(3))
    dropout = net.training and net.dropout.p > 0
    reads = [rows(n) for n in sizes] if dropout else acts
    for i, layers, out_b, out_w in plan:
        for layer, lo, hi, views in layers:
            if layer and net.residual:  # a residual block: two masked layers, then the sum
                b0, w0, b1, w1 = views
                mids[layer].append(net.dropout(act(torch.addmm(b0, w0, acts[layer - 1].value))))
                a = torch.addmm(b1, w1, mids[layer].value) + pre[layer - 1].value[lo:hi]
                pre[layer].append(a)
                acts[layer].append(act(a))
            else:  # one masked layer, from the features solved or the layer below
                bias, weight = views
                below = reads[layer - 1].value if layer else known.value
                if not layer and first_b is not None:
                    bias = first_b[lo:hi]
                if net.residual:
                    pre[layer].append(torch.addmm(bias, weight, below))
                    acts[layer].append(act(pre[layer].value[lo:hi]))
                else:
                    acts[layer].append_activated(act, bias, weight, below)
            if dropout:
                reads[layer].append(net.dropout(acts[layer].value[lo:hi]))
        params = torch.addmm(out_b, out_w, reads[-1].value)
        x_i, v_i = step(z[:, i : i + 1], params.T[:, None, :])
        known.append(x_i.T)
        values.append(v_i)
    x, values = known.value.T, torch.cat(values, -1)
    if not net.natural:
        unsort = net.degrees - 1
        x, values = x[:, unsort], values[:, unsort]
    return x.reshape(*batch, D), values.reshape(*batch, D)


Plan = list[tuple[int, list[tuple[int, int, int, tuple[Tensor, ...]]], Tensor, Tensor]]


def _plan(net: Sliced) -> Plan:
    """Per feature, in the ordering: its index, then per hidden layer with units of the
    degree it unlocks (layer, lo, hi, the views of the masked weights and biases that
    compute them), then the output layer's bias and weight views for its parameters.
    Without autograd the plan is kept and reused until a parameter or buffer changes
    (a new tensor, or an in-place update: its version counter)."""
    # Kept without autograd, except in a traced program (torch.export: no data pointers).
    keep, cache = not torch.is_grad_enabled() and not torch.compiler.is_exporting(), net.plan_cache
    if keep:
        key = [(t.data_ptr(), t._version, t.dtype) for t in (*net.parameters(), *net.buffers())]
        if cache.key == key:
            return cache.plan
    D, P, ends = net.features, net.params, net.ends
    first = net.first.weight * net.first.mask
    first_x = first[:, :D] if net.natural else first[:, net.order]
    first_b = net.first.bias[:, None]
    hidden = []  # per block: [(weight, bias)] of its masked layers
    for block in net.blocks:
        masked = block if net.residual else [block]
        hidden.append([(m.weight * m.mask, m.bias[:, None]) for m in masked])
    last = (net.last.weight * net.last.mask).unflatten(0, (D, P))
    last_b = net.last.bias.unflatten(0, (D, P))[..., None]
    plan: Plan = []
    for d, i in enumerate(net.order.tolist()):  # d: the degree feature i's step unlocks
        layers = []
        for layer, end in enumerate(ends):
            lo, hi = end[d - 1] if d else 0, end[d]
            if lo == hi:
                continue
            views: tuple[Any, ...]
            if layer == 0:
                views = (first_b[lo:hi], first_x[lo:hi, :d])
            elif not net.residual:
                (w, b), width = hidden[layer - 1][0], ends[layer - 1][d]
                views = (b[lo:hi], w[lo:hi, :width])
            else:
                (w0, b0), (w1, b1) = hidden[layer - 1]
                views = (b0[lo:hi], w0[lo:hi, :hi], b1[lo:hi], w1[lo:hi, :hi])
            layers.append((layer, lo, hi, views))
        plan.append((i, layers, last_b[i], last[i, :, : ends[-1][d]]))
    if keep:
        cache.key, cache.plan = key, plan
    return plan


class PlanCache:
    """Where a network keeps its solve plan; a copy or a pickle of it starts empty."""

    def __init__(self) -> None:
        self.key: list | None = None
        self.plan: Plan = []

    def __deepcopy__(self, memo: dict) -> PlanCache:
        return PlanCache()

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()


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
