"""Cached generation for convolutional autoregressive models (after Ramachandran et al.
2017, "Fast Generation for Convolutional Autoregressive Models"): each layer's input is
kept as a map that fills in as pixels are drawn, so drawing the next sub-pixel computes
each layer at that one pixel only, from a (kh//2 + 1) x kw patch of its input map,
instead of running the network over the image.

A masked convolution's output of colour c at (i, j) reads its input at (i, j) only in
colours it is allowed to see, so computing, at each colour step, only the output
channels of that colour gives every channel exactly once, from final inputs.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn


class AtPixel:
    """A masked convolution (Cout, Cin, kh, kw) with 'same' padding, evaluated at one
    output pixel for the output channels of one colour (`groups`: each output channel's
    colour). Its input map is zero-padded by kh//2 rows above and kw//2 columns each side
    (`empty_map`); the kernel rows below the centre are masked, so they are dropped.

        out_c(i, j) = b_c + W_c . patch(i, j),   patch = map[:, :, i : i + kh//2 + 1, j : j + kw]

    Args:
        conv: a MaskedConv2d (its `mask` buffer is applied once here).
        groups: (Cout) the colour of each output channel.
        colours: the colours.
    """

    def __init__(self, conv: nn.Conv2d, groups: Tensor, colours: int) -> None:
        weight = conv.weight * conv.mask
        kh, kw = weight.shape[-2:]
        self.rows, self.width = kh // 2 + 1, kw
        weight = weight[:, :, : self.rows]
        self.parts = []  # per colour: (the output channels, W_c^T (Cin kh' kw, |c|), b_c)
        for c in range(colours):
            index = (groups == c).nonzero().squeeze(1)
            self.parts.append((_as_slice(index), weight[index].flatten(1).T, conv.bias[index]))

    def channels(self, colour: int) -> slice | Tensor:
        """The output channels of this colour."""
        return self.parts[colour][0]

    def empty_map(self, rows: int, height: int, width: int, like: Tensor) -> Tensor:
        """Zeros for the input of `rows` images (N, Cin, H + kh//2, W + 2 (kw//2))."""
        inputs = self.parts[0][1].shape[0] // (self.rows * self.width)
        pad = self.width // 2
        return like.new_zeros(rows, inputs, height + self.rows - 1, width + 2 * pad)

    def write(self, grid: Tensor, i: int, j: int, channels: slice | Tensor, value: Tensor) -> None:
        """Puts value (N, |channels|) at input pixel (i, j) of a map from `empty_map`."""
        grid[:, channels, i + self.rows - 1, j + self.width // 2] = value

    def at(self, grid: Tensor, i: int, j: int, colour: int) -> Tensor:
        """The output channels of `colour` at (i, j): (N, |c|)."""
        _, weight, bias = self.parts[colour]
        patch = grid[:, :, i : i + self.rows, j : j + self.width].reshape(grid.shape[0], -1)
        return torch.addmm(bias, patch, weight)

    def pointwise(self, vector: Tensor, colour: int) -> Tensor:
        """A 1x1 convolution at one pixel: vector (N, Cin) -> (N, |c|)."""
        _, weight, bias = self.parts[colour]
        return torch.addmm(bias, vector, weight)


def _as_slice(index: Tensor) -> slice | Tensor:
    """A run of consecutive indices as a slice (a cheap view), others as they are."""
    if len(index) and torch.equal(index, torch.arange(int(index[0]), int(index[0]) + len(index))):
        return slice(int(index[0]), int(index[0]) + len(index))
    return index


class PixelCache(Protocol):
    """A model's layers during cached generation, over images filled in raster order."""

    def column(self, i: int, j: int, colour: int) -> Tensor:
        """The head's input at (i, j) in the channels of `colour`: (N, |c|), its
        sub-pixels before `colour` and every earlier pixel being drawn."""
        ...

    def put(self, i: int, j: int, colour: int, value: Tensor) -> None:
        """Records the drawn sub-pixel (N), scaled as the network's input."""
        ...

    def end_row(self, i: int) -> None:
        """Row i is complete (what sees whole rows above can be computed)."""
        ...
