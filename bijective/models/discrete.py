"""What every autoregressive model of discrete data shares: exact log-likelihood from
per-variable logits, ensembles over orderings or connectivities, ancestral sampling.

    p(x | c) = prod_k p(x_{o_k} | x_{o_<k}, c),   x_i in {0 .. L-1}

with p(x_i | .) = Bernoulli(sigmoid(a_i)) when L = 2 and Categorical(softmax(a_i)) otherwise,
where the logits a_i are a function of the variables before i in the ordering o only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..recorded import Recorded
from ..validation import (
    as_shape,
    check_context,
    check_event,
    check_sampling,
    validation_enabled,
)


class DiscreteAutoregressive(Recorded, nn.Module):
    """Base of FVSBN, NADE, MADE, PixelCNN, GatedPixelCNN, Recurrent and Transformer: a
    `bj.Density` on events of `event_shape` with values in {0 .. levels-1}, flattened in
    (C, H, W) order.

    A subclass defines `logits(x, context)`: x (N, *event) float -> (N, D) logits of
    p(x_i = 1) when levels = 2, else (N, D, levels); entry i may depend only on the
    variables before i in `order()` (and the context). With `arrangements` K > 1 the model
    is an equal mixture of K autoregressive models sharing weights (K orderings or masks,
    `arrange(k)` selects one): in training each log_prob call uses one drawn at random (the
    order- or connectivity-agnostic objective, Germain et al. 2015, Uria et al. 2014), in
    eval mode log_prob is the exact log of the mixture, log (1/K) sum_k p_k(x).

    log_prob(x, context) -> (*batch) in nats; sample(shape, context, temperature) draws
    ancestrally with logits divided by the temperature T (T -> 0: the most likely value).

    Args:
        event_shape: D, or (C, H, W).
        levels: L, the number of values of each variable (2: binary).
        context: C, the size of the context vector (0: none).
        arrangements: K, the orderings or masks of the mixture.

    Example:
        A model of your own: independent variables, p(x_i = 1) = sigma(b_i).

        >>> import torch, bijective as bj
        >>> class Independent(bj.models.DiscreteAutoregressive):
        ...     def __init__(self, features):
        ...         super().__init__(features, levels=2, context=0)
        ...         self.b = torch.nn.Parameter(torch.zeros(features))
        ...     def logits(self, x, context=None):
        ...         return self.b.expand(len(x), -1)
        >>> model = Independent(3)
        >>> model.log_prob(torch.tensor([[0.0, 1.0, 1.0]]))  # 3 log(1/2)
        tensor([-2.0794], grad_fn=<...>)
    """

    def __init__(
        self, event_shape: int | Sequence[int], levels: int, context: int, arrangements: int = 1
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if levels < 2:
            raise ValueError(f"{name}: levels must be >= 2 (2 for binary data); got {levels}")
        if context < 0 or arrangements < 1:
            raise ValueError(
                f"{name}: context must be >= 0 and arrangements >= 1; got {context}, {arrangements}"
            )
        self.event_shape = as_shape(event_shape)
        self.features = math.prod(self.event_shape)
        self.levels, self.context_features = levels, context
        self.outputs = 1 if levels == 2 else levels  # logits per variable
        self.arrangements, self.arrangement = arrangements, 0

    def logits(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def order(self) -> Tensor:
        """The flat indices of the variables, first to last, in the current arrangement."""
        return torch.arange(self.features)

    def arrange(self, k: int) -> None:
        """Selects arrangement k in 0..arrangements-1 (a subclass with K > 1 overrides)."""
        self.arrangement = k

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _prepare(self, where: str, x: Tensor, context: Tensor | None) -> tuple:
        """x as (N, *event) floats and the context as (N, C), with the batch shape."""
        if validation_enabled():
            length = x.shape[-1] if isinstance(x, Tensor) and x.dim() else None
            if len(self.event_shape) == 1 and length not in (None, self.features):
                raise ValueError(
                    f"{where}: expected rows (sequences) of {self.features} values, the length "
                    f"this model was built for; got {length}"
                )
            batch = check_event(where, "x", x, self.event_shape)
            check_context(where, context, self.context_features, batch)
            self._check_values(where, x)
        batch = x.shape[: x.dim() - len(self.event_shape)]
        rows = x.reshape(-1, *self.event_shape).to(self._dtype())
        if context is not None:
            context = context.expand(*batch, context.shape[-1]).reshape(-1, context.shape[-1])
            context = context.to(rows.dtype)
        return rows, context, batch

    def _check_values(self, where: str, x: Tensor) -> None:
        if x.is_floating_point():
            bad = (x != x.round()) | (x < 0) | (x > self.levels - 1)  # NaN is bad too
        else:
            bad = (x < 0) | (x > self.levels - 1)
        if bad.any():
            value = x[bad].flatten()[0].item()
            kind = "binary values {0, 1}" if self.levels == 2 else f"integers 0..{self.levels - 1}"
            raise ValueError(
                f"{where}: expected {kind}; got {value} ({int(bad.sum())} of {x.numel()} "
                "entries)" + (" (binarise the data first)" if self.levels == 2 else "")
            )

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | context) in nats, exact: (*batch, *event) -> (*batch)."""
        rows, context, batch = self._prepare(f"{type(self).__name__}.log_prob", x, context)
        if rows.numel() == 0:
            return rows.new_zeros(batch)
        if self.arrangements == 1:
            return self._log_prob(rows, context).view(batch)
        if self.training:  # one arrangement per call: the agnostic training objective
            self.arrange(int(torch.randint(self.arrangements, ())))
            return self._log_prob(rows, context).view(batch)
        terms = []
        for k in range(self.arrangements):
            self.arrange(k)
            terms.append(self._log_prob(rows, context))
        log_p = torch.stack(terms).logsumexp(0) - math.log(self.arrangements)
        return log_p.view(batch)

    def _log_prob(self, rows: Tensor, context: Tensor | None) -> Tensor:
        """sum_i log p(x_i | x_<i) under the current arrangement: (N, *event) -> (N)."""
        logits = self.logits(rows, context)
        values = rows.reshape(rows.shape[0], -1)
        if self.levels == 2:
            terms = -F.binary_cross_entropy_with_logits(logits, values, reduction="none")
        else:
            log_p = logits.log_softmax(-1)
            terms = log_p.gather(-1, values.long().unsqueeze(-1)).squeeze(-1)
        return terms.sum(-1)

    def sample(
        self,
        shape: Sequence[int] | int = (),
        context: Tensor | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """Ancestral samples, no gradients: (*shape, *context batch, *event), values as floats.
        A mixture of K arrangements draws each row's arrangement uniformly first."""
        where = f"{type(self).__name__}.sample"
        shape = check_sampling(where, shape, temperature, context, self.context_features)
        if context is not None:
            shape = shape + tuple(context.shape[:-1])
            context = context.expand(*shape, context.shape[-1]).reshape(-1, context.shape[-1])
            context = context.to(self._dtype())
        n = math.prod(shape)
        anchor = next(self.parameters())
        x = torch.zeros(n, self.features, dtype=anchor.dtype, device=anchor.device)
        if n == 0:
            return x.view(*shape, *self.event_shape)
        with torch.no_grad():
            if self.arrangements == 1:
                self._sample(x, context, temperature)
            else:
                chosen = torch.randint(self.arrangements, (n,))
                for k in range(self.arrangements):
                    rows = (chosen == k).nonzero().squeeze(-1).to(x.device)
                    if len(rows):
                        self.arrange(k)
                        c = None if context is None else context[rows]
                        x[rows] = self._sample(x[rows], c, temperature)
        return x.view(*shape, *self.event_shape)

    def _sample(self, x: Tensor, context: Tensor | None, temperature: float) -> Tensor:
        """Fills x (N, D) in the ordering, one network pass per variable (subclasses with a
        cheaper exact sampler override this); returns x."""
        rows = x.view(x.shape[0], *self.event_shape)
        for i in self.order().tolist():
            x[:, i] = self.draw(self.logits(rows, context)[:, i], temperature)
        return x

    def draw(self, logits: Tensor, temperature: float) -> Tensor:
        """One value per row from logits (N) (Bernoulli) or (N, L) at temperature T."""
        if self.levels == 2:
            return torch.bernoulli(torch.sigmoid(logits / temperature))
        probs = torch.softmax(logits / temperature, -1)
        return torch.multinomial(probs, 1).squeeze(-1).to(probs.dtype)

    def scaled(self, x: Tensor) -> Tensor:
        """Values in [0, 1]: the input most networks here take, x / (L - 1)."""
        return x / (self.levels - 1)
