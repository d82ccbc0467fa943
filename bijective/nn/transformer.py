"""A causal (decoder-only) transformer with a key-value cache, for autoregressive models.

Pre-norm blocks (the GPT-2 layout of Vaswani et al. 2017's decoder):

    h <- h + Attention(LayerNorm(h)),   h <- h + MLP(LayerNorm(h))

where the attention of position t reads positions <= t only. With a `KeyValueCache` the
network runs one position at a time: each step appends its keys and values to the cache
and attends to everything cached, so generating T positions costs T steps of O(t) work,
not T full passes of O(T^2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class KeyValueCache:
    """Per block, the keys and values (N, heads, T, d) of the positions run so far."""

    def __init__(self, blocks: int) -> None:
        self.keys: list[Tensor | None] = [None] * blocks
        self.values: list[Tensor | None] = [None] * blocks

    @property
    def length(self) -> int:
        """The positions cached (by the last block: those run through the whole network)."""
        return self.cached(-1)

    def cached(self, block: int) -> int:
        """The positions a block holds."""
        keys = self.keys[block]
        return 0 if keys is None else keys.shape[2]

    def extend(self, block: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Appends this step's keys and values; returns all of the block's so far."""
        if self.keys[block] is not None:
            k, v = torch.cat([self.keys[block], k], 2), torch.cat([self.values[block], v], 2)
        self.keys[block], self.values[block] = k, v
        return k, v


class CausalSelfAttention(nn.Module):
    """Multi-head attention softmax(q k^T / sqrt(d) + causal mask) v over (N, T, E)."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)

    def forward(self, h: Tensor, cache: KeyValueCache | None, block: int) -> Tensor:
        n, t, e = h.shape
        q, k, v = self.qkv(h).view(n, t, 3, self.heads, e // self.heads).permute(2, 0, 3, 1, 4)
        before, mask = 0 if cache is None else cache.cached(block), None
        if cache is not None:
            k, v = cache.extend(block, k, v)
        if before and t > 1:  # new position i sees the cached ones and new ones up to i
            mask = torch.ones(t, before + t, dtype=torch.bool, device=h.device).tril(before)
        p = self.dropout if self.training else 0.0
        causal = not before and t > 1
        y = F.scaled_dot_product_attention(q, k, v, mask, dropout_p=p, is_causal=causal)
        return self.out(y.transpose(1, 2).reshape(n, t, e))


class Block(nn.Module):
    """h + attention(norm(h)), then + MLP(norm(h)) (GELU, 4x wide)."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads, dropout)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )

    def forward(self, h: Tensor, cache: KeyValueCache | None, block: int) -> Tensor:
        h = h + self.attention(self.norm1(h), cache, block)
        return h + self.mlp(self.norm2(h))


class CausalTransformer(nn.Module):
    """`depth` pre-norm causal blocks and a final LayerNorm: (N, T, E) -> (N, T, E), the
    output at t a function of the inputs at positions <= t only. With `cache`, h holds
    the next positions after those cached (one at a time after the first call).

    Args:
        width: E, the model width (divisible by heads).
        depth: the blocks.
        heads: the attention heads.
        dropout: on attention weights and MLP outputs, in train mode.

    Example:
        >>> import torch, bijective as bj
        >>> net = bj.nn.CausalTransformer(width=8, depth=2, heads=2).eval()
        >>> h = torch.randn(3, 5, 8)
        >>> cache = bj.nn.KeyValueCache(2)
        >>> steps = torch.cat([net(h[:, t : t + 1], cache) for t in range(5)], 1)
        >>> torch.allclose(steps, net(h), atol=1e-5)  # one position at a time = one pass
        True
    """

    def __init__(self, width: int, depth: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if width < 1 or depth < 1 or heads < 1 or width % heads:
            raise ValueError(
                "CausalTransformer: expected width, depth, heads >= 1 and width divisible "
                f"by heads; got width {width}, depth {depth}, heads {heads}"
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"CausalTransformer: dropout must be in [0, 1); got {dropout}")
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(width)

    def forward(self, h: Tensor, cache: KeyValueCache | None = None) -> Tensor:
        for index, block in enumerate(self.blocks):
            h = block(h, cache, index)
        return self.norm(h)
