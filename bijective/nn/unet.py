"""A small U-Net as the vector field of a continuous flow on images."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def time_features(t: Tensor, size: int) -> Tensor:
    """Sinusoidal features of the time (Vaswani et al. 2017, as diffusion models embed it):
    t (N, 1) -> (N, size), frequencies 1 .. 1000 on a log scale."""
    half = size // 2
    frequencies = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    angles = 1000.0 * t * frequencies.to(t.dtype)
    return torch.cat([angles.sin(), angles.cos()], -1)


class _Block(nn.Module):
    """h + conv(silu(norm(conv(silu(norm(h))) + embedding))): a residual block whose
    channels are shifted by the time (and context) embedding; SiLU, so the field is smooth."""

    def __init__(self, channels_in: int, channels: int, embedding: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, channels_in), channels_in)
        self.conv1 = nn.Conv2d(channels_in, channels, 3, padding=1)
        self.shift = nn.Linear(embedding, channels)
        self.norm2 = nn.GroupNorm(min(8, channels), channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.skip = nn.Conv2d(channels_in, channels, 1) if channels_in != channels else None

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        out = self.conv1(F.silu(self.norm1(h))) + self.shift(e)[:, :, None, None]
        out = self.conv2(F.silu(self.norm2(out)))
        return out + (h if self.skip is None else self.skip(h))


class UNet(nn.Module):
    """f(x, t, context) on images (C, H, W) for a continuous flow: x flat (*batch, C H W)
    (the layout bijective.transforms.ContinuousFlow integrates), t a scalar or one time per
    row (*batch, 1), an optional context (*batch, K) -> (*batch, C H W).

    `levels` resolutions, each a residual block then 2x2 average pooling (channels
    doubling), a middle block, and back up by nearest upsampling with the skip
    connections; every block is shifted by an embedding of sin/cos time features and the
    context. GroupNorm and SiLU keep f smooth, as an ODE solver needs. The last
    convolution starts at zero: a flow on it starts as the identity. H and W must divide
    by 2^(levels - 1).

    Args:
        shape: (C, H, W).
        channels: the channels at full resolution.
        levels: the resolutions.
        context: K, the size of the context vector (0: none).

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.nn.UNet((1, 8, 8), channels=8, levels=2)
        >>> f(torch.randn(3, 64), torch.rand(3, 1)).shape
        torch.Size([3, 64])
    """

    def __init__(
        self, shape: Sequence[int], channels: int = 32, levels: int = 2, context: int = 0
    ) -> None:
        super().__init__()
        self.shape = tuple(shape)
        c, h, w = self.shape
        if levels < 1 or h % 2 ** (levels - 1) or w % 2 ** (levels - 1):
            raise ValueError(
                f"UNet: H and W must divide by 2^(levels - 1); got {tuple(shape)}, levels {levels}"
            )
        bottom = channels * 2 ** (levels - 1)
        if bottom // min(8, bottom) * (h * w) // 4 ** (levels - 1) < 2:
            raise ValueError(
                f"UNet: {tuple(shape)} at {levels} levels leaves one value per normalisation "
                "group at the lowest resolution; use fewer levels or more channels"
            )
        self.context_features, embedding = context, 4 * channels
        self.time = nn.Sequential(
            nn.Linear(channels, embedding), nn.SiLU(), nn.Linear(embedding, embedding)
        )
        self.context_net = nn.Linear(context, embedding) if context else None
        widths = [channels * 2**i for i in range(levels)]
        self.inputs = nn.Conv2d(c, channels, 3, padding=1)
        self.down = nn.ModuleList(
            _Block(a, b, embedding) for a, b in zip([channels, *widths[:-1]], widths, strict=True)
        )
        self.middle = _Block(widths[-1], widths[-1], embedding)
        self.up = nn.ModuleList(_Block(2 * b, b, embedding) for b in reversed(widths))
        self.resize = nn.ModuleList(
            nn.Conv2d(a, b, 1)
            for a, b in zip(reversed(widths), [*reversed(widths[:-1]), channels], strict=True)
        )
        self.norm = nn.GroupNorm(min(8, channels), channels)
        self.outputs = nn.Conv2d(channels, c, 3, padding=1)
        nn.init.zeros_(self.outputs.weight)
        nn.init.zeros_(self.outputs.bias)

    def forward(self, x: Tensor, t: Tensor, context: Tensor | None = None) -> Tensor:
        batch = x.shape[:-1]
        h = self.inputs(x.reshape(-1, *self.shape))
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(*batch, 1).reshape(-1, 1)
        e = self.time(time_features(t, self.inputs.out_channels))
        if self.context_net is not None:
            e = e + self.context_net(context.reshape(-1, self.context_features))
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, e)
            skips.append(h)
            if i < len(self.down) - 1:
                h = F.avg_pool2d(h, 2)
        h = self.middle(h, e)
        for block, resize in zip(self.up, self.resize, strict=True):
            h = resize(block(torch.cat([h, skips.pop()], 1), e))
            if skips:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        return self.outputs(F.silu(self.norm(h))).reshape(*batch, -1)
