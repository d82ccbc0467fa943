"""Lipschitz-constrained layers: the parts of a contractive residual branch g with Lip(g) < 1.

A linear layer's Lipschitz constant (in the Euclidean norm) is its spectral norm sigma(W),
and a composition's is at most the product of its parts', so g = W_n o phi o ... o phi o W_1
with every sigma(W_i) <= c < 1 and 1-Lipschitz activations phi has Lip(g) <= c^n < 1
(Behrmann et al. 2019, arXiv:1811.00995, section 3).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _Spectral(nn.Module):
    """A linear operator W scaled to W~ = W / max(1, sigma(W) / c): operator norm <= `coeff`.
    Subclasses hold `weight`, the power-iteration vectors u (output side) and v (input
    side) as buffers, and define the operator (`_operator`) and its adjoint (`_adjoint`)."""

    def _setup(self, coeff: float, iterations: int) -> None:
        name = type(self).__name__
        if not coeff > 0 or not math.isfinite(coeff):
            raise ValueError(f"{name}: expected coeff > 0; got {coeff}")
        if iterations < 1:
            raise ValueError(f"{name}: expected iterations >= 1; got {iterations}")
        self.coeff, self.iterations = float(coeff), iterations

    def _operator(self, x: Tensor, weight: Tensor) -> Tensor:
        raise NotImplementedError

    def _adjoint(self, y: Tensor, weight: Tensor) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def _power_iteration(self, steps: int, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor, float]:
        """`steps` steps of v <- W^T u / |.|, u <- W v / |.| (Miyato et al. 2018); returns
        u, v and the estimate |W v| = u^T W v of the last step."""
        norm = torch.zeros(())
        for _ in range(steps):
            v = F.normalize(self._adjoint(u, self.weight).flatten(), dim=0).view_as(v)
            wv = self._operator(v, self.weight).flatten()
            norm = wv.norm()
            u = (wv / norm.clamp_min(1e-12)).view_as(u)
        return u, v, float(norm)

    def _settle(
        self, u: Tensor, v: Tensor, rtol: float, steps: int, every: int
    ) -> tuple[Tensor, Tensor]:
        """Power iteration from (u, v), `every` steps at a time, until the estimate moves by
        at most `rtol` (relative) between checks, or `steps` steps in all."""
        previous = None
        for _ in range(0, steps, every):
            u, v, value = self._power_iteration(every, u, v)
            if previous is not None and abs(value - previous) <= rtol * abs(value):
                break
            previous = value
        return u, v

    def _converge(self, steps: int) -> None:
        """`steps` steps from the stored vectors, written back to them."""
        u, v, _ = self._power_iteration(steps, self.u, self.v)
        self.u.copy_(u)
        self.v.copy_(v)

    def _rayleigh(self, u: Tensor, v: Tensor) -> Tensor:
        """u^T W v, the gradient flowing through W with u, v fixed."""
        return (u * self._operator(v, self.weight)).sum()

    def _estimate(self) -> Tensor:
        """Training: warm-started steps from the stored vectors until the estimate moves by
        less than 1e-3 (relative), at most `iterations`, written back to the buffers; the
        gradient flows through W with u, v fixed. Stopping on a tolerance (as Chen et al.
        2019 do) keeps the estimate on the exact norm while the weights move fast: one step
        a call lags up to 23% behind at lr 2e-3, and evaluation (exact) then sees another
        function than training did."""
        u, v = self._settle(self.u, self.v, 1e-3, self.iterations, 1)
        self.u.copy_(u)
        self.v.copy_(v)
        return self._rayleigh(self.u, self.v)

    def sigma(self) -> Tensor:
        raise NotImplementedError

    def normalised_weight(self) -> Tensor:
        """W~ = W / max(1, sigma / c)."""
        return self.weight / torch.clamp(self.sigma() / self.coeff, min=1.0)


class SpectralLinear(_Spectral):
    """y = W~ x + b with W~ = W / max(1, sigma(W) / c): spectral norm at most `coeff` = c.

    Training (Miyato et al. 2018, arXiv:1802.05957; the i-ResNet's estimator): sigma is the
    power-iteration estimate u^T W v from the vectors u, v kept in the state dict,
    warm-started and iterated until it settles (at most `iterations` steps); the gradient
    flows through W with u, v fixed. Evaluation: sigma is the exact largest singular
    value (an SVD of W), so in eval mode the bound sigma(W~) <= c holds exactly and nothing
    is written. Shapes: x (*batch, in_features) -> (*batch, out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        coeff: float = 0.97,
        iterations: int = 20,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self._setup(coeff, iterations)
        bound = in_features**-0.5  # nn.Linear's initialisation
        uniform = lambda *s: (2 * torch.rand(*s, generator=generator) - 1) * bound  # noqa: E731
        self.weight = nn.Parameter(uniform(out_features, in_features))
        self.bias = nn.Parameter(uniform(out_features))
        unit = lambda n: F.normalize(torch.randn(n, generator=generator), dim=0)  # noqa: E731
        self.register_buffer("u", unit(out_features))
        self.register_buffer("v", unit(in_features))
        self._converge(50)  # start from converged vectors

    def _operator(self, x: Tensor, weight: Tensor) -> Tensor:
        return weight @ x

    def _adjoint(self, y: Tensor, weight: Tensor) -> Tensor:
        return weight.mT @ y

    def sigma(self) -> Tensor:
        """The spectral norm of W: estimated in training mode, exact in eval mode."""
        if not self.training:
            return torch.linalg.matrix_norm(self.weight, ord=2)
        return self._estimate()

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        weight = self.normalised_weight() if weight is None else weight
        return F.linear(x, weight, self.bias)

    def extra_repr(self) -> str:
        out, inp = self.weight.shape
        return f"in_features={inp}, out_features={out}, coeff={self.coeff}"


class SpectralConv2d(_Spectral):
    """A 'same'-padded k x k convolution whose operator norm on (C_in, H, W) images is at
    most `coeff` (Chen et al. 2019's image blocks; Gouk et al. 2018, arXiv:1804.04368).

    sigma is the norm of the convolution as a linear map of whole images, found by power
    iteration with the convolution and its adjoint (a transposed convolution) on image-shaped
    vectors kept in the state dict: warm-started steps until the estimate settles (at most
    `iterations`) in training mode; in eval mode iterations from the stored vectors until
    sigma changes by less than 1e-6 (relative), nothing written. `shape` = (C_in, H, W) of
    the inputs.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        out_channels: int,
        kernel: int = 3,
        coeff: float = 0.97,
        iterations: int = 20,
    ) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"SpectralConv2d: expected an odd kernel size; got {kernel}")
        self._setup(coeff, iterations)
        c, h, w = shape
        conv = nn.Conv2d(c, out_channels, kernel, padding=kernel // 2)
        self.weight, self.bias = conv.weight, conv.bias
        self.padding = kernel // 2
        unit = lambda *s: F.normalize(torch.randn(math.prod(s)), dim=0).view(*s)  # noqa: E731
        self.register_buffer("u", unit(out_channels, h, w))
        self.register_buffer("v", unit(c, h, w))
        self._converge(50)

    def _operator(self, x: Tensor, weight: Tensor) -> Tensor:
        return F.conv2d(x[None], weight, padding=self.padding)[0]

    def _adjoint(self, y: Tensor, weight: Tensor) -> Tensor:
        return F.conv_transpose2d(y[None], weight, padding=self.padding)[0]

    def sigma(self) -> Tensor:
        if self.training:
            return self._estimate()
        return self._rayleigh(*self._settle(self.u, self.v, 1e-6, 1000, 10))

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        weight = self.normalised_weight() if weight is None else weight
        return F.conv2d(x, weight, self.bias, padding=self.padding)


class LipSwish(nn.Module):
    """phi(x) = x sigmoid(beta x) / 1.1, beta = softplus(b) > 0 learnable: 1-Lipschitz for
    every beta (Chen et al. 2019, arXiv:1906.02735, section 4), smooth, and with a
    derivative that does not saturate at 0 as ELU's second derivative does."""

    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.tensor(0.5))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(F.softplus(self.b) * x) / 1.1


ACTIVATIONS = {"lipswish": LipSwish, "elu": nn.ELU, "tanh": nn.Tanh}


class _LipschitzChain(nn.Module):
    """layers[0] (+ an unconstrained map of the context) -> phi -> layers[1] -> ... -> the last
    layer, each a spectral-normalised layer taking its normalised weight: `weights()`
    computes them once, so a fixed-point solve sees one map."""

    layers: nn.ModuleList
    activations: nn.ModuleList
    context: nn.Module | None  # set by the subclass (a class default would shadow a module)

    @staticmethod
    def phis(where: str, activation: str, count: int) -> nn.ModuleList:
        """`count` fresh 1-Lipschitz activations named by `activation`."""
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"{where}: expected activation in {sorted(ACTIVATIONS)}; got {activation!r}"
            )
        return nn.ModuleList(ACTIVATIONS[activation]() for _ in range(count))

    def weights(self) -> list[Tensor]:
        """The normalised weights (in training mode each call moves the power iteration)."""
        return [layer.normalised_weight() for layer in self.layers]

    def forward(
        self, x: Tensor, context: Tensor | None = None, weights: list[Tensor] | None = None
    ) -> Tensor:
        weights = self.weights() if weights is None else weights
        h = self.layers[0](x, weights[0])
        if self.context is not None:
            h = h + self.context(context)
        for phi, w, layer in zip(self.activations, weights[1:], self.layers[1:], strict=True):
            h = layer(phi(h), w)
        return h


class LipschitzMLP(_LipschitzChain):
    """g(x, context) = W_n phi(... phi(W_1 x + V context) ...): Lip in x at most coeff^n.

    Every W_i is a SpectralLinear with spectral norm <= coeff, phi is 1-Lipschitz
    ('lipswish', 'elu' or 'tanh'). The context enters the first layer through an unconstrained
    linear map V: the bound is on x only, as invertibility needs. x (*batch, D),
    context (*batch, C) -> (*batch, D).
    """

    def __init__(
        self,
        features: int,
        hidden: tuple[int, ...] = (64, 64),
        context: int = 0,
        coeff: float = 0.97,
        activation: str = "lipswish",
        iterations: int = 20,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.activations = self.phis("LipschitzMLP", activation, len(hidden))
        sizes = [features, *hidden, features]
        self.layers = nn.ModuleList(
            SpectralLinear(a, b, coeff=coeff, iterations=iterations, generator=generator)
            for a, b in itertools.pairwise(sizes)
        )
        self.context = nn.Linear(context, sizes[1], bias=False) if context else None


class LipschitzConvNet(_LipschitzChain):
    """g(x) = conv3x3 phi conv1x1 phi conv3x3 on images (C, H, W) -> (C, H, W) (Chen et al.
    2019's image block), every convolution a SpectralConv2d of norm <= coeff, phi
    1-Lipschitz: Lip(g) <= coeff^3. `channels` hidden channels."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        channels: int = 64,
        coeff: float = 0.97,
        activation: str = "lipswish",
    ) -> None:
        super().__init__()
        self.activations = self.phis("LipschitzConvNet", activation, 2)
        c, h, w = shape
        self.layers = nn.ModuleList(
            [
                SpectralConv2d((c, h, w), channels, 3, coeff),
                SpectralConv2d((channels, h, w), channels, 1, coeff),
                SpectralConv2d((channels, h, w), c, 3, coeff),
            ]
        )
        self.context = None
