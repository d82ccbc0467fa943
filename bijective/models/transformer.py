"""A decoder-only transformer as an autoregressive model of discrete sequences: pixels in
raster order (sub-pixels R -> G -> B within a pixel), or the characters of a text.

    h_t = e(x_{t-1}) + P_t + U c   (x_0 a start token),   p(x_t | x_<t, c) = softmax(V g_t + b)

with g = CausalTransformer(h) (bijective.nn.transformer), so g_t reads h_<=t only, and a
Bernoulli logit instead of the softmax when L = 2. Sampling keeps the keys and values of
the positions drawn (a key-value cache): D steps of one position each.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..nn.transformer import CausalTransformer, KeyValueCache
from .discrete import DiscreteAutoregressive


class Transformer(DiscreteAutoregressive):
    """A causal transformer over D values in {0..L-1}: an embedding of the previous value
    (a start token first) plus a learned position embedding plus the context's projection,
    `depth` pre-norm blocks of `width` with `heads` heads, and a linear head to the L
    logits (one for binary data). Teacher forcing in training: one pass gives every
    conditional. With `colours` C > 1 the D = C H W values of an image (flat in (C, H, W))
    are read pixel by pixel, colour by colour within a pixel. x (N, D) -> log p (N).

    Args:
        features: D, the sequence length.
        context: C', the size of the context vector (a one-hot class; 0: none).
        levels: L, the values of each position.
        width: the model width.
        depth: the transformer blocks.
        heads: the attention heads (dividing width).
        colours: C, the colours of an image's flat (C, H, W) values (1: the flat order).
        dropout: on attention weights and MLP outputs, in train mode.

    Example:
        >>> import torch, bijective as bj
        >>> model = bj.models.Transformer(features=10, levels=5, width=16, depth=2, heads=2)
        >>> x = torch.randint(0, 5, (3, 10)).float()
        >>> model.log_prob(x).shape
        torch.Size([3])
        >>> model.sample((2,), temperature=0.8).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        levels: int = 2,
        width: int = 64,
        depth: int = 4,
        heads: int = 4,
        colours: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(features, levels, context)
        if colours < 1 or features % colours:
            raise ValueError(
                f"Transformer: colours must be >= 1 and divide the features {features}; "
                f"got {colours}"
            )
        self.network = CausalTransformer(width, depth, heads, dropout)
        self.start = levels  # the start token follows the values
        self.embed = nn.Embedding(levels + 1, width)
        self.position = nn.Parameter(0.02 * torch.randn(features, width))
        self.out = nn.Linear(width, self.outputs)
        self.context_net = nn.Linear(context, width) if context else None
        # Position t of the sequence holds flat variable sequence[t]: pixel-major.
        sequence = torch.arange(features).view(colours, -1).T.flatten()
        self.register_buffer("sequence", sequence, persistent=False)

    def order(self) -> Tensor:
        return self.sequence.cpu()

    def _inputs(self, tokens: Tensor, start: int, context: Tensor | None) -> Tensor:
        """Tokens (N, t) at positions start .. start + t - 1 -> the blocks' input (N, t, E)."""
        h = self.embed(tokens) + self.position[start : start + tokens.shape[1]]
        return h if self.context_net is None else h + self.context_net(context)[:, None]

    def logits(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        values = x.reshape(x.shape[0], -1).long()[:, self.sequence]
        start = torch.full_like(values[:, :1], self.start)
        g = self.network(self._inputs(torch.cat([start, values[:, :-1]], 1), 0, context))
        out = self.out(g)
        logits = torch.empty_like(out)
        logits[:, self.sequence] = out
        return logits.squeeze(-1) if self.outputs == 1 else logits

    def _sample(self, x: Tensor, context: Tensor | None, temperature: float) -> Tensor:
        """D steps of one position each, attending to the cached keys and values: the
        draws of D full passes (DiscreteAutoregressive._sample), in O(D^2) attention."""
        cache = KeyValueCache(len(self.network.blocks))
        token = torch.full((x.shape[0], 1), self.start, device=x.device)
        for t, i in enumerate(self.order().tolist()):
            g = self.network(self._inputs(token, t, context), cache)
            logits = self.out(g[:, 0])
            x[:, i] = self.draw(logits[:, 0] if self.outputs == 1 else logits, temperature)
            token = x[:, i : i + 1].long()
        return x
