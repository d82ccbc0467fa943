"""Fully visible autoregressive models of discrete vectors: FVSBN, NADE, MADE.

Each is a `DiscreteAutoregressive` (bijective.models.discrete): exact log p(x) in nats from
per-variable Bernoulli (L = 2) or categorical logits, ancestral sampling with temperature,
an optional context c (C) added to the logits or hidden layers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .discrete import DiscreteAutoregressive
from .running_sum import nade_outputs


class Ordered(DiscreteAutoregressive):
    """A DiscreteAutoregressive over K arrangements, each with an ordering of the D variables:
    the buffer `orders` (K, D) holds the natural one first, random ones after when
    `agnostic` (drawn from the global generator, which the trainer seeds)."""

    def __init__(
        self, features: int, levels: int, context: int, count: int, agnostic: bool
    ) -> None:
        super().__init__(features, levels, context, count)
        orders = [torch.arange(features)]
        orders += [torch.randperm(features) if agnostic else orders[0] for _ in range(count - 1)]
        self.register_buffer("orders", torch.stack(orders))

    def order(self) -> Tensor:
        return self.orders[self.arrangement].cpu()


class FVSBN(DiscreteAutoregressive):
    """Fully visible sigmoid belief network (Gan et al. 2015, after Neal 1992):

        p(x_i = 1 | x_<i, c) = sigma(b_i + sum_{j<i} W_ij x_j + (V c)_i)

    with D(D-1)/2 + D parameters (W strictly lower triangular). For L > 2 levels each
    variable gets L logits b_ik + sum_{j<i} W_ijk x_j / (L-1). Sampling updates the logits
    as each variable is drawn: O(D^2) per sample. x (N, D) -> log p (N).

    Args:
        features: D.
        context: C, the size of the context vector (0: none).
        levels: L, the values of each variable.

    Example:
        >>> import torch, bijective as bj
        >>> model = bj.models.FVSBN(features=4)
        >>> x = torch.randint(0, 2, (5, 4)).float()
        >>> model.log_prob(x).shape
        torch.Size([5])
        >>> model.sample((2,)).shape
        torch.Size([2, 4])
    """

    def __init__(self, features: int, context: int = 0, levels: int = 2) -> None:
        super().__init__(features, levels, context)
        d, k = features, self.outputs
        self.register_buffer("_lower", torch.tril_indices(d, d, -1), persistent=False)
        self.weight = nn.Parameter(0.01 * torch.randn(d * (d - 1) // 2, k))
        self.bias = nn.Parameter(torch.zeros(d, k))
        self.context_net = nn.Linear(context, d * k) if context else None

    def matrix(self) -> Tensor:
        """W as a (D, D, K) tensor, zero on and above the diagonal."""
        d = self.features
        w = self.weight.new_zeros(d, d, self.outputs)
        w[self._lower[0], self._lower[1]] = self.weight
        return w

    def _bias(self, n: int, context: Tensor | None) -> Tensor:
        b = self.bias.expand(n, -1, -1)
        if self.context_net is not None:
            b = b + self.context_net(context).view(n, self.features, self.outputs)
        return b

    def logits(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        x = self.scaled(x.reshape(x.shape[0], -1))
        a = self._bias(x.shape[0], context) + torch.einsum("nj,ijk->nik", x, self.matrix())
        return a.squeeze(-1) if self.outputs == 1 else a

    def _sample(self, x: Tensor, context: Tensor | None, temperature: float) -> Tensor:
        w, a = self.matrix(), self._bias(x.shape[0], context).clone()
        for i in range(self.features):
            logit = a[:, i, 0] if self.outputs == 1 else a[:, i]
            x[:, i] = self.draw(logit, temperature)
            a += self.scaled(x[:, i])[:, None, None] * w[:, i]
        return x


class NADE(Ordered):
    """Neural autoregressive distribution estimator (Larochelle & Murray 2011):

        h_i = sigma(c + W_{:,<i} x_<i),   p(x_i = 1 | x_<i) = sigma(b_i + V_i . h_i)

    with H hidden units (`hidden`); L logits per variable for L > 2 levels (x scaled to
    [0, 1] as input). Tied weights make a_i = c + sum_{j<i} W_{:,j} x_j a running sum, so
    log_prob costs O(DH), not O(D^2 H); `tied=False` gives each conditional its own
    W^(i) and c^(i) (D^2 H parameters, O(D^2 H)). A context adds U c to every a_i.

    `orderings` K > 1: an order-agnostic NADE (Uria et al. 2014) over K orderings (the
    natural one and K - 1 random ones, kept in the state dict): trained on one drawn
    ordering per step, evaluated as the mixture log (1/K) sum_k p_k(x).
    x (N, D) -> log p (N).

    Args:
        features: D.
        context: C, the size of the context vector (0: none).
        levels: L, the values of each variable.
        hidden: H, the hidden units.
        tied: share W across the conditionals (the O(DH) running sum).
        orderings: K, the orderings of an order-agnostic NADE.

    Example:
        >>> import torch, bijective as bj
        >>> model = bj.models.NADE(features=6, hidden=16)
        >>> x = torch.randint(0, 2, (3, 6)).float()
        >>> model.log_prob(x).shape
        torch.Size([3])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        levels: int = 2,
        hidden: int = 500,
        tied: bool = True,
        orderings: int = 1,
    ) -> None:
        super().__init__(features, levels, context, orderings, agnostic=True)
        d, h, k = features, hidden, self.outputs
        self.hidden, self.tied = hidden, tied
        scale = d**-0.5
        if tied:
            self.weight = nn.Parameter(scale * torch.randn(h, d))
            self.hidden_bias = nn.Parameter(torch.zeros(h))
        else:  # W^(i) over the variables before position i: a masked (D, H, D) tensor
            self.weight = nn.Parameter(scale * torch.randn(d, h, d))
            self.hidden_bias = nn.Parameter(torch.zeros(d, h))
            self.register_buffer("_mask", torch.ones(d, d).tril(-1)[:, None, :], persistent=False)
        self.out_weight = nn.Parameter(h**-0.5 * torch.randn(d, h, k))
        self.out_bias = nn.Parameter(torch.zeros(d, k))
        self.context_net = nn.Linear(context, h) if context else None

    def logits(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Tied: the pre-activations a_k of the k-th variable in the ordering by the running
        sum a_{k+1} = a_k + W_{:,o_k} x_{o_k}, in O(DH) per row, by one autograd node that
        walks chunks of the variables and holds no (N, D, H) tensor (models/running_sum.py)."""
        o = self.orders[self.arrangement]
        xs = self.scaled(x.reshape(x.shape[0], -1))[:, o]
        shift = x.new_zeros(x.shape[0], self.hidden)  # the context's term U c, (N, H)
        if self.context_net is not None:
            shift = self.context_net(context)
        v, b = self.out_weight[o], self.out_bias[o]
        if not self.tied:
            a = torch.einsum("nj,ihj->nih", xs, self.weight * self._mask) + self.hidden_bias
            out = torch.einsum("ndh,dhk->ndk", torch.sigmoid(a + shift[:, None]), v) + b
        else:  # a_k = c + U c' + sum_{j<k} W_j x_j, without the (N, D, H) tensor
            a0 = (self.hidden_bias + shift).expand(x.shape[0], -1)
            out = nade_outputs(xs, self.weight[:, o].T, a0, v) + b
        logits = torch.empty_like(out)
        logits[:, o] = out
        return logits.squeeze(-1) if self.outputs == 1 else logits

    def _sample(self, x: Tensor, context: Tensor | None, temperature: float) -> Tensor:
        if not self.tied:
            return super()._sample(x, context, temperature)
        a = self.hidden_bias.expand(x.shape[0], -1)
        if self.context_net is not None:
            a = a + self.context_net(context)
        for i in self.order().tolist():  # O(H) per variable: the running sum
            out = torch.sigmoid(a) @ self.out_weight[i] + self.out_bias[i]
            x[:, i] = self.draw(out[:, 0] if self.outputs == 1 else out, temperature)
            a = a + self.scaled(x[:, i])[:, None] * self.weight[:, i]
        return x


class MADE(Ordered):
    """Masked autoencoder for distribution estimation (Germain et al. 2015) as a density
    model of discrete vectors: an MLP x -> logits with weight masks so that the logits of
    variable i see only the variables before it in the ordering.

    Degrees as in the paper: the k-th variable of the ordering has degree k; a hidden
    unit's degree m is drawn uniformly from {min of the layer below, .., D - 1} and it sees
    units below of degree <= m; the logits of a variable of degree d see hidden units of
    degree < d. (bijective.nn.MaskedMLP keeps the deterministic layout the flows use.)
    The context reaches the first hidden layer and the logits directly.

    `masks` K > 1: connectivity-agnostic training (K sets of hidden degrees, and with
    `order_agnostic` K orderings too; kept in the state dict), one drawn per step; in
    eval mode log p is the K-mask ensemble log (1/K) sum_k p_k(x).
    x (N, D) -> log p (N).

    Args:
        features: D.
        context: C, the size of the context vector (0: none).
        levels: L, the values of each variable.
        hidden: the hidden sizes.
        masks: K, the connectivity masks (one drawn per training step).
        order_agnostic: with K > 1, each mask brings its own ordering too.

    Example:
        >>> import torch, bijective as bj
        >>> model = bj.models.MADE(features=6, hidden=(32,), masks=2).eval()
        >>> x = torch.randint(0, 2, (3, 6)).float()
        >>> model.log_prob(x).shape  # eval mode: the 2-mask ensemble
        torch.Size([3])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        levels: int = 2,
        hidden: Sequence[int] = (500,),
        masks: int = 1,
        order_agnostic: bool = False,
    ) -> None:
        super().__init__(features, levels, context, masks, order_agnostic)
        if not hidden:
            raise ValueError("MADE: expected at least one hidden layer")
        d = features
        sizes = [d, *hidden]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.last = nn.Linear(sizes[-1], d * self.outputs)
        self.context_net = nn.Linear(context, hidden[0] + d * self.outputs) if context else None
        degrees = []  # per layer, (K, H) hidden degrees
        for _ in range(masks):
            low, layer = 1, []
            for size in hidden:
                m = torch.randint(min(low, d - 1), d, (size,)) if d > 1 else torch.zeros(size)
                layer.append(m.long())
                low = int(m.min())
            degrees.append(layer)
        for layer in range(len(hidden)):
            self.register_buffer(f"degrees_{layer}", torch.stack([m[layer] for m in degrees]))

    def masks(self) -> list[Tensor]:
        """The current arrangement's masks, (out, in) per layer, from its degrees."""
        k, order = self.arrangement, self.orders[self.arrangement]
        degree_in = torch.empty_like(order)
        degree_in[order] = torch.arange(1, self.features + 1, device=order.device)
        below, masks = degree_in, []
        for layer in range(len(self.layers)):
            m = getattr(self, f"degrees_{layer}")[k]
            masks.append(m[:, None] >= below[None, :])
            below = m
        out = degree_in.repeat_interleave(self.outputs)
        return [*masks, out[:, None] > below[None, :]]

    def logits(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        h, extra = self.scaled(x.reshape(x.shape[0], -1)), None
        if self.context_net is not None:
            extra = self.context_net(context)
        *masks, last = self.masks()
        for index, (layer, mask) in enumerate(zip(self.layers, masks, strict=True)):
            h = F.linear(h, layer.weight * mask, layer.bias)
            if index == 0 and extra is not None:
                h = h + extra[:, : h.shape[-1]]
            h = torch.relu(h)
        out = F.linear(h, self.last.weight * last, self.last.bias)
        if extra is not None:
            out = out + extra[:, -out.shape[-1] :]
        out = out.view(x.shape[0], self.features, self.outputs)
        return out.squeeze(-1) if self.outputs == 1 else out
