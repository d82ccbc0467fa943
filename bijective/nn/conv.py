"""Convolutional conditioners for image couplings."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .precision import conditioner


class ResidualBlock(nn.Module):
    """x + conv3x3(relu(conv3x3(relu(x)))), channels kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class ResNet(nn.Module):
    """(*batch, C_in, H, W) -> (*batch, C_out, H, W): a 3x3 convolution to `channels`,
    `blocks` residual blocks, ReLU and a 3x3 convolution to C_out that starts at zero
    (so the coupling it conditions starts as the identity, as in Glow). Padding keeps
    H and W."""

    def __init__(
        self, in_channels: int, out_channels: int, channels: int = 64, blocks: int = 2
    ) -> None:
        super().__init__()
        last = nn.Conv2d(channels, out_channels, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1),
            *(ResidualBlock(channels) for _ in range(blocks)),
            nn.ReLU(),
            last,
        )

    def forward(self, x: Tensor) -> Tensor:
        batch = x.shape[:-3]
        return self.net(x.reshape(-1, *x.shape[-3:])).reshape(*batch, -1, *x.shape[-2:])


class MaskedConvConditioner(nn.Module):
    """The conditioner of an image coupling: the kept entries x_B (*batch, |B|), placed in
    an image of zeros of `shape` (C, H, W) with the mask as an extra channel, go through a
    ResNet whose output has `params` channels per image channel; the entries of the
    changed part A are returned as (*batch, |A| * params), entry-major (what Coupling
    expects). With `context_channels` Cc, the context is an image (Cc, H, W) given flat,
    (*batch, Cc H W), and joins the input as Cc more channels."""

    def __init__(
        self,
        mask: Tensor,
        params: int,
        channels: int = 64,
        blocks: int = 2,
        context_channels: int = 0,
    ) -> None:
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        c, h, w = mask.shape
        self.shape, self.params = (c, h, w), params
        flat = mask.flatten()
        self.register_buffer("kept", flat.nonzero().squeeze(-1))
        self.register_buffer("changed", (~flat).nonzero().squeeze(-1))
        self.register_buffer("mask_channel", mask.to(torch.get_default_dtype())[:1].clone())
        self.context_channels = context_channels
        self.net = ResNet(c + 1 + context_channels, c * params, channels, blocks)

    @conditioner
    def forward(self, kept: Tensor, context: Tensor | None = None) -> Tensor:
        batch = kept.shape[:-1]
        image = kept.new_zeros(*batch, self.shape[0] * self.shape[1] * self.shape[2])
        image = image.index_copy(-1, self.kept, kept).view(*batch, *self.shape)
        mask = self.mask_channel.to(kept.dtype).expand(*batch, 1, *self.shape[1:])
        inputs = [image, mask]
        if self.context_channels:
            inputs.append(context.expand(*batch, -1).view(*batch, -1, *self.shape[1:]))
        out = self.net(torch.cat(inputs, -3))  # (*batch, C * P, H, W)
        out = out.reshape(*batch, self.params, -1)[..., self.changed]  # (*batch, P, |A|)
        return out.transpose(-1, -2).flatten(-2)
