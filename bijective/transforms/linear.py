"""Linear bijections on the last dimension: permutations and LU-decomposed matrices."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..validation import after_load, check_permutation
from .base import Transform


class Permutation(Transform):
    """z = x[..., permutation]: reorders the features; ladj = 0.

    `Permutation.reverse(D)` and `Permutation.random(D)` build the usual two. The order is
    a buffer, so a reloaded state dict restores a random permutation exactly.

    Args:
        permutation: a permutation of 0..D-1; z_i = x[permutation[i]].

    Example:
        >>> import torch, bijective as bj
        >>> z, ladj = bj.transforms.Permutation.reverse(3)(torch.tensor([[1.0, 2.0, 3.0]]))
        >>> z, ladj
        (tensor([[3., 2., 1.]]), tensor([0.]))
    """

    def __init__(self, permutation: Tensor) -> None:
        super().__init__()
        permutation = check_permutation("Permutation", permutation)
        self.event_shape = (permutation.numel(),)
        self.register_buffer("permutation", permutation)
        self.register_buffer("inverse_permutation", torch.argsort(permutation))
        self._after_load()
        self.register_load_state_dict_post_hook(after_load)

    def _after_load(self) -> None:
        # A reversal is a flip: no gather forward, no scatter backward.
        n = self.permutation.numel()
        self._reversal = torch.equal(self.permutation.cpu(), torch.arange(n - 1, -1, -1))

    @classmethod
    def reverse(cls, features: int) -> Permutation:
        return cls(torch.arange(features - 1, -1, -1))

    @classmethod
    def random(cls, features: int, generator: torch.Generator | None = None) -> Permutation:
        return cls(torch.randperm(features, generator=generator))

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        z = x.flip(-1) if self._reversal else x[..., self.permutation]
        return z, x.new_zeros(()).expand(x.shape[:-1])

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        x = z.flip(-1) if self._reversal else z[..., self.inverse_permutation]
        return x, z.new_zeros(()).expand(z.shape[:-1])


def lu_factors(
    lower: Tensor, upper: Tensor, sign_s: Tensor, log_abs_s: Tensor
) -> tuple[Tensor, Tensor]:
    """L (unit lower triangular) and U + diag(sign_s exp(log_abs_s)) from free matrices."""
    eye = torch.eye(lower.shape[-1], dtype=lower.dtype, device=lower.device)
    return lower.tril(-1) + eye, upper.triu(1) + torch.diag(sign_s * log_abs_s.exp())


def random_rotation(features: int, generator: torch.Generator | None = None) -> Tensor:
    """A random orthogonal matrix (QR of a Gaussian one): Glow's initialisation."""
    return torch.linalg.qr(torch.randn(features, features, generator=generator))[0]


def init_lu(module: nn.Module, weight: Tensor) -> None:
    """Gives `module` the LU parameters of `weight` = P L (U + diag(s)): buffers p and
    sign_s (fixed), parameters lower, upper and log_abs_s."""
    p, lower, upper = torch.linalg.lu(weight)
    s = upper.diagonal()
    module.register_buffer("p", p)
    module.register_buffer("sign_s", s.sign())
    module.lower = nn.Parameter(lower.tril(-1))
    module.upper = nn.Parameter(upper.triu(1))
    module.log_abs_s = nn.Parameter(s.abs().log())


def lu_weight(p: Tensor, lower: Tensor, upper: Tensor, sign_s: Tensor, log_abs_s: Tensor) -> Tensor:
    """W = P L (U + diag(s)), the LU-parameterised matrix of LULinear and Conv1x1."""
    lower, upper = lu_factors(lower, upper, sign_s, log_abs_s)
    return p @ lower @ upper


class LULinear(Transform):
    """z = W x + b with W = P L (U + diag(s)) (Kingma & Dhariwal 2018, Glow, arXiv:1807.03039).

    P is a fixed permutation, L unit lower triangular, U strictly upper triangular, and
    s = sign * exp(log_abs_s) with a fixed sign, so ladj = sum(log|s|) costs O(D) and the
    inverse is two triangular solves. Initialised, as in Glow, from a random rotation.

    Args:
        features: D.
        generator: draws the random rotation it starts from (torch's global one if None).

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.LULinear(4)
        >>> x = torch.randn(3, 4)
        >>> z, ladj = f(x)
        >>> torch.allclose(f.inverse(z)[0], x, atol=1e-5)
        True
    """

    def __init__(self, features: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.event_shape = (features,)
        init_lu(self, random_rotation(features, generator))
        self.bias = nn.Parameter(torch.zeros(features))

    def _factors(self) -> tuple[Tensor, Tensor]:
        return lu_factors(self.lower, self.upper, self.sign_s, self.log_abs_s)

    def weight(self) -> Tensor:
        """The matrix W = P L U."""
        return lu_weight(self.p, self.lower, self.upper, self.sign_s, self.log_abs_s)

    def _ladj(self, x: Tensor, sign: float) -> Tensor:
        return (sign * self.log_abs_s.sum()).expand(x.shape[:-1])

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return x @ self.weight().T + self.bias, self._ladj(x, 1.0)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        # Row vectors: x W^T = z - b, W^T = U^T L^T P^T, so x U^T L^T = (z - b) P.
        lower, upper = self._factors()
        y = ((z - self.bias) @ self.p).reshape(-1, z.shape[-1])
        y = torch.linalg.solve_triangular(lower.T, y, upper=True, left=False, unitriangular=True)
        x = torch.linalg.solve_triangular(upper.T, y, upper=False, left=False)
        return x.reshape(z.shape), self._ladj(z, -1.0)
