"""Recurrent autoregressive models: an RNN or LSTM reads a sequence (pixels in raster
order, or the characters of a text) one step at a time.

    s_i = cell(s_{i-1}, e(x_{i-1}) + U c),   p(x_i | x_<i, c) = softmax(V s_i + b)

with x_0 a start token, e a learned embedding of the L values (plus the start token) and
a Bernoulli logit instead of the softmax when L = 2. The cell is shared by every step, so
the parameter count does not depend on the sequence length D.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .discrete import DiscreteAutoregressive


class Recurrent(DiscreteAutoregressive):
    """An RNN (tanh) or LSTM autoregressive model of sequences of D values in {0..L-1}:
    `layers` stacked cells of `hidden` units, an embedding of `embedding` dimensions.

    Training uses teacher forcing: one pass over the true sequence gives every
    conditional. `truncate` T: in training mode the gradient flows back at most T steps
    (truncated backpropagation through time: the state is carried across chunks of T
    steps, its gradient cut); log_prob's value is exact either way. Gradient clipping is
    the trainer's `train.clip`. Sampling runs the cell step by step: O(D) cell steps.
    x (N, D) -> log p (N); a longer or shorter sequence raises.

    Args:
        features: D, the sequence length.
        context: C, the size of the context vector (0: none).
        levels: L, the values of each step.
        hidden: the units of each cell.
        layers: the stacked cells.
        cell: "lstm" or "rnn".
        embedding: the dimensions of each value's embedding.
        truncate: T, the steps backpropagated in training mode (None: all).

    Example:
        >>> import torch, bijective as bj
        >>> model = bj.models.Recurrent(features=10, levels=5, hidden=16, embedding=4)
        >>> x = torch.randint(0, 5, (3, 10)).float()
        >>> model.log_prob(x).shape
        torch.Size([3])
        >>> model.sample((2,), temperature=0.5).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        levels: int = 2,
        hidden: int = 256,
        layers: int = 1,
        cell: Literal["lstm", "rnn"] = "lstm",
        embedding: int = 32,
        truncate: int | None = None,
    ) -> None:
        super().__init__(features, levels, context)
        if cell not in ("lstm", "rnn"):
            raise ValueError(f"Recurrent: cell must be 'lstm' or 'rnn'; got {cell!r}")
        if truncate is not None and truncate < 1:
            raise ValueError(f"Recurrent: truncate must be >= 1 steps; got {truncate}")
        self.start, self.truncate = levels, truncate  # the start token follows the values
        self.embed = nn.Embedding(levels + 1, embedding)
        network = nn.LSTM if cell == "lstm" else nn.RNN
        self.cell = network(embedding, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, self.outputs)
        self.context_net = nn.Linear(context, embedding) if context else None

    def inputs(self, tokens: Tensor, context: Tensor | None) -> Tensor:
        """Embedded tokens (N, T) -> (N, T, E), the context added at every step."""
        e = self.embed(tokens)
        return e if self.context_net is None else e + self.context_net(context)[:, None]

    def logits(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        x = x.reshape(x.shape[0], -1).long()
        start = torch.full_like(x[:, :1], self.start)
        e = self.inputs(torch.cat([start, x[:, :-1]], 1), context)
        if self.truncate is None or not self.training:
            states = self.cell(e)[0]
        else:
            state, chunks = None, []
            for chunk in e.split(self.truncate, 1):
                if state is not None:  # carry the state forward, not its gradient
                    state = _detach(state)
                out, state = self.cell(chunk, state)
                chunks.append(out)
            states = torch.cat(chunks, 1)
        out = self.out(states)
        return out.squeeze(-1) if self.outputs == 1 else out

    def _sample(self, x: Tensor, context: Tensor | None, temperature: float) -> Tensor:
        token, state = torch.full((x.shape[0], 1), self.start, device=x.device), None
        for i in range(self.features):
            out, state = self.cell(self.inputs(token, context), state)
            logits = self.out(out[:, 0])
            x[:, i] = self.draw(logits[:, 0] if self.outputs == 1 else logits, temperature)
            token = x[:, i : i + 1].long()
        return x


def _detach(state: Tensor | tuple[Tensor, ...]) -> Tensor | tuple[Tensor, ...]:
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
