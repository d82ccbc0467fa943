"""PixelCNN (van den Oord et al. 2016, arXiv:1601.06759) and Gated PixelCNN (van den Oord
et al. 2016, arXiv:1606.05328): autoregressive models of images in raster order, pixel by
pixel and, within a pixel, colour by colour (R -> G -> B).

    p(x) = prod_{i, j} prod_c p(x_{c,i,j} | x_{<(i,j)}, x_{<c,(i,j)})

Images (N, C, H, W) with values in {0 .. L-1}: Bernoulli logits when L = 2, L-way softmax
otherwise, or with `mixture` M > 0 the discretized logistic mixture of PixelCNN++
(Salimans et al. 2017). Both sample exactly by cached generation (Ramachandran et al.
2017; bijective.models.pixel_cache): each sub-pixel computes the network at its own
pixel only, from the layers' inputs kept so far, not a network pass over the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .discrete import DiscreteAutoregressive
from .pixel_cache import AtPixel, PixelCache


def colour_groups(channels: int, colours: int) -> Tensor:
    """The colour each of `channels` feature maps belongs to: contiguous blocks, in order."""
    return torch.arange(channels) * colours // channels


class MaskedConv2d(nn.Conv2d):
    """A (kh, kw) convolution (padding keeps H, W) whose output at pixel (i, j) sees the
    pixels before (i, j) in raster order and, at (i, j) itself, input channels of an
    earlier colour than the output channel's (mask "A") or of an earlier or the same
    colour (mask "B"). Colours of channels default to `colour_groups`.

    Args:
        in_channels: the input channels.
        out_channels: the output channels.
        kernel: its size, k or (kh, kw).
        mask: "A" (the first layer: a pixel does not see itself) or "B".
        colours: the colours the channels are split into (3 for RGB).
        out_groups: each output channel's colour (`colour_groups` if None).

    Example:
        >>> import torch, bijective as bj
        >>> conv = bj.models.MaskedConv2d(1, 4, 3, "A")
        >>> x = torch.zeros(1, 1, 3, 3)
        >>> x[0, 0, 2, 2] = 1.0  # the last pixel
        >>> bool((conv(x) - conv(torch.zeros_like(x)))[..., 2, 2].abs().max() == 0)  # unseen
        True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | tuple[int, int],
        mask: str,
        colours: int = 1,
        out_groups: Tensor | None = None,
    ) -> None:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2))
        if mask not in ("A", "B"):
            raise ValueError(f"MaskedConv2d: mask must be 'A' or 'B'; got {mask!r}")
        m = torch.ones_like(self.weight)
        m[:, :, kh // 2, kw // 2 :] = 0
        m[:, :, kh // 2 + 1 :] = 0
        out = colour_groups(out_channels, colours) if out_groups is None else out_groups
        seen = colour_groups(in_channels, colours)
        centre = seen[None, :] < out[:, None] if mask == "A" else seen[None, :] <= out[:, None]
        m[:, :, kh // 2, kw // 2] = centre.to(m.dtype)
        self.register_buffer("mask", m, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class ImageAutoregressive(DiscreteAutoregressive):
    """Shared by the PixelCNNs: the raster ordering, logits laid out as the flat (C, H, W)
    event, the head, the cached sampler. Subclasses give `features_map(x, context)`
    -> (N, C * K, H, W) and `_cache(images, context)`: a PixelCache of their layers."""

    def __init__(self, shape: Sequence[int], levels: int, context: int, mixture: int) -> None:
        super().__init__(shape, levels, context)
        name = type(self).__name__
        if len(self.event_shape) != 3:
            raise ValueError(f"{name}: expected shape (C, H, W); got {shape}")
        if mixture < 0 or (mixture and levels == 2):
            raise ValueError(f"{name}: mixture needs levels > 2 and mixture >= 0; got {mixture}")
        self.colours, self.mixture = self.event_shape[0], mixture
        self.params = 3 * mixture if mixture else self.outputs  # per variable
        self.head_groups = torch.arange(self.colours * self.params) // self.params

    def order(self) -> Tensor:
        c, h, w = self.event_shape
        return torch.arange(c * h * w).view(c, h, w).permute(1, 2, 0).flatten()

    def features_map(self, x: Tensor, context: Tensor | None) -> Tensor:
        raise NotImplementedError

    def logits(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """x (N, C, H', W) -> logits (N, C H' W) or (N, C H' W, L), flat in (C, H', W)."""
        out = self.features_map(self.scaled(x), context)
        n, _, h, w = out.shape
        out = out.view(n, self.colours, self.params, h, w).permute(0, 1, 3, 4, 2)
        return self._variable_logits(out.reshape(n, -1, self.params))

    def _variable_logits(self, params: Tensor) -> Tensor:
        """The head's outputs for each sub-pixel (..., params) -> its logits (...) or (..., L)."""
        if self.mixture:
            return discretized_logistic_mixture(params, self.levels)
        return params.squeeze(-1) if self.outputs == 1 else params

    def _cache(self, images: Tensor, context: Tensor | None) -> PixelCache:
        raise NotImplementedError

    def _sample(self, x: Tensor, context: Tensor | None, temperature: float) -> Tensor:
        """Cached generation (bijective.models.pixel_cache): each sub-pixel in raster
        order computes every layer at its own pixel only, for its own colour's channels,
        giving the logits of one full network pass, and so its draws, in O(1) per pixel."""
        n, (colours, height, width) = x.shape[0], self.event_shape
        images = x.view(n, *self.event_shape)
        cache = self._cache(images, context)
        hidden_groups = colour_groups(self.out[1].in_channels, colours)
        hidden = AtPixel(self.out[1], hidden_groups, colours)
        last = AtPixel(self.out[3], self.head_groups, colours)
        u, v = (x.new_zeros(n, self.out[1].in_channels) for _ in range(2))
        for i in range(height):
            for j in range(width):
                for c in range(colours):
                    s = hidden.channels(c)
                    u[:, s] = torch.relu(cache.column(i, j, c))
                    v[:, s] = torch.relu(hidden.pointwise(u, c))
                    value = self.draw(self._variable_logits(last.pointwise(v, c)), temperature)
                    images[:, c, i, j] = value
                    cache.put(i, j, c, self.scaled(value))
            cache.end_row(i)
        return x

    def head(self, channels: int) -> nn.Sequential:
        """ReLU, 1x1 mask-B convolution, ReLU, 1x1 mask-B convolution to the logits."""
        return nn.Sequential(
            nn.ReLU(),
            MaskedConv2d(channels, channels, 1, mask="B", colours=self.colours),
            nn.ReLU(),
            MaskedConv2d(
                channels,
                self.colours * self.params,
                1,
                mask="B",
                colours=self.colours,
                out_groups=self.head_groups,
            ),
        )


def discretized_logistic_mixture(params: Tensor, levels: int) -> Tensor:
    """log P(x = k), k = 0..L-1, under a mixture of M logistics (PixelCNN++, Salimans et al.
    2017): params (..., 3M) = mixture logits, means mu and log-scales s on [-1, 1], where
    level k has centre y_k = 2k / (L-1) - 1 and bin [y_k - 1/(L-1), y_k + 1/(L-1)], the
    end bins reaching -inf and +inf (so the L probabilities sum to 1 exactly):

        P(k | m) = sigma((y_k + 1/(L-1) - mu_m) / e^s_m) - sigma((y_k - 1/(L-1) - mu_m) / e^s_m)

    -> (..., L). As logits they give the base class its categorical distribution."""
    logit_pi, mu, log_s = params.unsqueeze(-1).chunk(3, -2)  # (..., M, 1) each
    y = torch.linspace(-1, 1, levels, dtype=params.dtype, device=params.device)
    half, inverse_scale = 1 / (levels - 1), torch.exp(-log_s.clamp(min=-7.0))
    upper, lower = (y + half - mu) * inverse_scale, (y - half - mu) * inverse_scale
    # log(sigma(u) - sigma(l)) = log sigma(u) + log(1 - e^(l - u)) + log sigma(-l), stable
    # for any u > l; the end bins are log sigma(u) (k = 0) and log sigma(-l) (k = L-1).
    middle = F.logsigmoid(upper) + torch.log1p(-torch.exp(lower - upper)) + F.logsigmoid(-lower)
    log_p = torch.cat(
        [F.logsigmoid(upper[..., :1]), middle[..., 1:-1], F.logsigmoid(-lower[..., -1:])], -1
    )
    return (log_p + logit_pi.log_softmax(-2)).logsumexp(-2)


class PixelCNN(ImageAutoregressive):
    """PixelCNN (van den Oord et al. 2016a): a 7x7 mask-A convolution, `blocks` residual
    blocks h + conv1x1_B(relu(conv3x3_B(relu(h)))), and a 1x1 head, all masked so the
    logits of x_{c,i,j} see only earlier pixels and colours. Stacked 3x3 masks leave a
    blind spot up and to the right of each pixel (see GatedPixelCNN). A context (one-hot
    class) adds a learned bias per block (conditional PixelCNN). `mixture` M > 0: each
    sub-pixel is a discretized mixture of M logistics (PixelCNN++) instead of an L-way
    softmax. x (N, C, H, W) -> (N).

    Args:
        shape: the image shape (C, H, W).
        context: C', the size of the context vector (a one-hot class; 0: none).
        levels: L, the values of each sub-pixel.
        channels: the hidden channels.
        blocks: the residual blocks.
        first_kernel: the size of the first (mask-A) kernel.
        mixture: M > 0 for a discretized logistic mixture per sub-pixel, 0 for a softmax.

    Example:
        >>> import torch, bijective as bj
        >>> model = bj.models.PixelCNN((1, 6, 6), channels=8, blocks=2)
        >>> x = torch.randint(0, 2, (2, 1, 6, 6)).float()
        >>> model.log_prob(x).shape
        torch.Size([2])
        >>> model.sample((3,)).shape
        torch.Size([3, 1, 6, 6])
    """

    def __init__(
        self,
        shape: Sequence[int],
        context: int = 0,
        levels: int = 2,
        channels: int = 64,
        blocks: int = 7,
        first_kernel: int = 7,
        mixture: int = 0,
    ) -> None:
        super().__init__(shape, levels, context, mixture)
        colours = self.colours
        if channels % colours:
            raise ValueError(f"PixelCNN: channels {channels} must divide by the colours {colours}")
        self.first = MaskedConv2d(colours, channels, first_kernel, mask="A", colours=colours)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(),
                MaskedConv2d(channels, channels, 3, mask="B", colours=colours),
                nn.ReLU(),
                MaskedConv2d(channels, channels, 1, mask="B", colours=colours),
            )
            for _ in range(blocks)
        )
        self.out = self.head(channels)
        self.context_net = nn.Linear(context, channels * (blocks + 1)) if context else None

    def features_map(self, x: Tensor, context: Tensor | None) -> Tensor:
        biases = [None] * (len(self.blocks) + 1)
        if self.context_net is not None:
            biases = self.context_net(context)[..., None, None].chunk(len(biases), 1)
        h = self.first(x)
        for block, bias in zip(self.blocks, biases[:-1], strict=True):
            h = h + block(h if bias is None else h + bias)
        return self.out(h if biases[-1] is None else h + biases[-1])

    def _cache(self, images: Tensor, context: Tensor | None) -> PixelCache:
        return _PixelCNNCache(self, images, context)


class _PixelCNNCache:
    """PixelCNN's layers at one pixel: the input image and each block's input
    relu(h_b + bias_b) kept as maps (the 7x7 and 3x3 convolutions read patches of them),
    the pointwise values of the current pixel as vectors (N, channels)."""

    def __init__(self, model: PixelCNN, images: Tensor, context: Tensor | None) -> None:
        n, (colours, height, width) = images.shape[0], model.event_shape
        channels = model.first.out_channels
        groups = colour_groups(channels, colours)
        self.first = AtPixel(model.first, groups, colours)
        self.blocks = [
            (AtPixel(b[1], groups, colours), AtPixel(b[3], groups, colours)) for b in model.blocks
        ]
        self.image = self.first.empty_map(n, height, width, images)
        self.inputs = [conv.empty_map(n, height, width, images) for conv, _ in self.blocks]
        self.hidden = [images.new_zeros(n, channels) for _ in self.blocks]
        self.biases = [images.new_zeros(n, channels)] * (len(self.blocks) + 1)
        if model.context_net is not None:
            self.biases = list(model.context_net(context).chunk(len(self.biases), 1))

    def column(self, i: int, j: int, colour: int) -> Tensor:
        s = self.first.channels(colour)
        h = self.first.at(self.image, i, j, colour)
        for (conv, point), grid, hidden, bias in zip(
            self.blocks, self.inputs, self.hidden, self.biases, strict=False
        ):
            conv.write(grid, i, j, s, torch.relu(h + bias[:, s]))
            hidden[:, s] = torch.relu(conv.at(grid, i, j, colour))
            h = h + point.pointwise(hidden, colour)
        return h + self.biases[-1][:, s]

    def put(self, i: int, j: int, colour: int, value: Tensor) -> None:
        self.first.write(self.image, i, j, slice(colour, colour + 1), value[:, None])

    def end_row(self, i: int) -> None:
        pass


class GatedLayer(nn.Module):
    """One layer of the Gated PixelCNN: a vertical stack (a (k//2+1) x k convolution over
    the rows up to and including this one) and a horizontal stack (a 1 x k masked
    convolution along the row, plus the vertical stack shifted down one row), each with
    the gate tanh(a) * sigmoid(b); the horizontal output gets a 1x1 mask-B convolution
    and, after the first layer, a residual connection."""

    def __init__(
        self, inputs: int, channels: int, kernel: int, mask: str, colours: int, context: int
    ) -> None:
        super().__init__()
        p, self.k = channels, kernel // 2
        gated = torch.cat([colour_groups(p, colours)] * 2)  # the tanh half, the sigmoid half
        self.vertical = nn.Conv2d(inputs, 2 * p, (self.k + 1, kernel))
        self.down = nn.Conv2d(2 * p, 2 * p, 1)
        self.horizontal = MaskedConv2d(
            inputs, 2 * p, (1, kernel), mask=mask, colours=colours, out_groups=gated
        )
        self.out = MaskedConv2d(p, p, 1, mask="B", colours=colours)
        self.residual = mask == "B"
        self.context_net = nn.Linear(context, 4 * p) if context else None

    def forward(self, v: Tensor, h: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        k = self.k
        v_pre = self.vertical(F.pad(v, (k, k, k, 0)))  # row i sees rows i - k .. i
        h_pre = self.horizontal(h) + self.down(F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1])
        if self.context_net is not None:
            cv, ch = self.context_net(context)[..., None, None].chunk(2, 1)
            v_pre, h_pre = v_pre + cv, h_pre + ch
        v_out, h_gated = gate(v_pre), gate(h_pre)
        h_out = self.out(h_gated)
        return v_out, h + h_out if self.residual else h_out


def gate(a: Tensor) -> Tensor:
    """tanh(a_1) * sigmoid(a_2) over the two halves of the channels."""
    first, second = a.chunk(2, 1)
    return torch.tanh(first) * torch.sigmoid(second)


class GatedPixelCNN(ImageAutoregressive):
    """Gated PixelCNN (van den Oord et al. 2016b): `layers` GatedLayers (the first with a
    mask-A horizontal stack) and a 1x1 head. The vertical stack sees every row above, the
    horizontal stack every pixel to the left, so there is no blind spot: the logits of a
    pixel depend on every earlier pixel within the receptive field. A context adds a
    learned bias to every gate (conditional Gated PixelCNN). `mixture` as in PixelCNN.
    x (N, C, H, W) -> (N).

    Args:
        shape: the image shape (C, H, W).
        context: C', the size of the context vector (0: none).
        levels: L, the values of each sub-pixel.
        channels: the hidden channels of each stack.
        layers: the gated layers.
        kernel: their kernel size (odd).
        mixture: M > 0 for a discretized logistic mixture per sub-pixel, 0 for a softmax.

    Example:
        >>> import torch, bijective as bj
        >>> model = bj.models.GatedPixelCNN((1, 6, 6), channels=8, layers=2)
        >>> model.log_prob(torch.randint(0, 2, (2, 1, 6, 6)).float()).shape
        torch.Size([2])
    """

    def __init__(
        self,
        shape: Sequence[int],
        context: int = 0,
        levels: int = 2,
        channels: int = 64,
        layers: int = 7,
        kernel: int = 3,
        mixture: int = 0,
    ) -> None:
        super().__init__(shape, levels, context, mixture)
        colours = self.colours
        if channels % colours or kernel % 2 == 0:
            raise ValueError(
                f"GatedPixelCNN: channels {channels} must divide by the colours {colours} "
                f"and the kernel {kernel} be odd"
            )
        self.layers = nn.ModuleList(
            GatedLayer(
                colours if i == 0 else channels,
                channels,
                kernel,
                mask="AB"[i > 0],
                colours=colours,
                context=context,
            )
            for i in range(layers)
        )
        self.out = self.head(channels)

    def features_map(self, x: Tensor, context: Tensor | None) -> Tensor:
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h, context)
        return self.out(h)

    def _cache(self, images: Tensor, context: Tensor | None) -> PixelCache:
        return _GatedCache(self, images, context)


class _GatedCache:
    """Gated PixelCNN's layers at one pixel. Per layer: the horizontal stack's input row
    (the 1 x k convolution reads a patch of it) and, once a row is complete, the vertical
    stack over it (a whole-row convolution of the k + 1 rows up to it, kept as maps),
    whose down-projection the next row's pixels add."""

    def __init__(self, model: GatedPixelCNN, images: Tensor, context: Tensor | None) -> None:
        n, (colours, height, width) = images.shape[0], model.event_shape
        self.layers, k = model.layers, model.layers[0].k
        channels = model.layers[0].out.out_channels
        groups = colour_groups(channels, colours)
        self.horizontal = [
            AtPixel(layer.horizontal, torch.cat([groups] * 2), colours) for layer in self.layers
        ]
        self.out = [AtPixel(layer.out, groups, colours) for layer in self.layers]
        self.rows = [conv.empty_map(n, 1, width, images) for conv in self.horizontal]
        self.vertical = [
            images.new_zeros(n, layer.vertical.in_channels, height + k, width + 2 * k)
            for layer in self.layers
        ]
        # The row above row 0: the vertical stack is zero there, its projection the bias.
        self.down = [layer.down.bias[:, None].expand(n, -1, width) for layer in self.layers]
        self.gated = [images.new_zeros(n, channels) for _ in self.layers]
        zero = images.new_zeros(n, 2 * channels)
        self.biases = [(zero, zero)] * len(self.layers)
        if model.layers[0].context_net is not None:
            self.biases = [layer.context_net(context).chunk(2, 1) for layer in self.layers]

    def column(self, i: int, j: int, colour: int) -> Tensor:
        k, last = self.layers[0].k, len(self.layers) - 1
        for d, layer in enumerate(self.layers):
            both, s = self.horizontal[d].channels(colour), self.out[d].channels(colour)
            pre = self.horizontal[d].at(self.rows[d], 0, j, colour)
            self.gated[d][:, s] = gate(pre + self.down[d][:, both, j] + self.biases[d][1][:, both])
            h = self.out[d].pointwise(self.gated[d], colour)
            if layer.residual:
                h = h + self.rows[d][:, s, 0, j + k]
            if d < last:
                self.horizontal[d + 1].write(self.rows[d + 1], 0, j, s, h)
        return h

    def put(self, i: int, j: int, colour: int, value: Tensor) -> None:
        k = self.layers[0].k
        self.horizontal[0].write(self.rows[0], 0, j, slice(colour, colour + 1), value[:, None])
        self.vertical[0][:, colour, i + k, j + k] = value

    def end_row(self, i: int) -> None:
        k, last = self.layers[0].k, len(self.layers) - 1
        for d, layer in enumerate(self.layers):
            pre = layer.vertical(self.vertical[d][:, :, i : i + k + 1])  # (N, 2p, 1, W)
            self.down[d] = layer.down(pre)[:, :, 0]
            if d < last:
                width = pre.shape[-1]
                self.vertical[d + 1][:, :, i + k, k : k + width] = gate(
                    pre + self.biases[d][0][..., None, None]
                )[:, :, 0]
