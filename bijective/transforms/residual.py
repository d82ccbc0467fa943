"""Residual flows z = x + g(x): planar, radial and Sylvester, with exact numerical inverses.

None of them has a closed-form inverse in general. Planar and each row of Sylvester reduce
to an increasing scalar equation with a known bracket (solved by `increasing_root`);
radial reduces to a quadratic in the radius, solved in closed form. Gradients through an
inverse come from one Newton step taken with autograd at the root: at a root that step is
the identity, and its derivative is the implicit-function-theorem gradient.

Built with `context=C`, each is amortised (as the flow posteriors of VAEs, Rezende &
Mohamed 2015; van den Berg et al. 2018): a linear head on the context (*batch, C) gives
every example its own parameters, with the same constraints, maths and inverses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Transform
from .roots import increasing_root


def planar_u_hat(u: Tensor, w: Tensor) -> Tensor:
    """u_hat = u + (softplus(w^T u) - 1 - w^T u) w / ||w||^2, so w^T u_hat > -1 and the map
    y + u_hat tanh(w^T y + b) is invertible. u, w (..., D), batched or per map."""
    wu = (w * u).sum(-1, keepdim=True)
    norm = (w * w).sum(-1, keepdim=True).clamp_min(1e-12)
    return u + (F.softplus(wu) - 1 - wu) * w / norm


def radial_parameters(alpha_raw: Tensor, beta_raw: Tensor) -> tuple[Tensor, Tensor]:
    """alpha = softplus(a') > 0 and beta = softplus(b') - alpha >= -alpha: an invertible
    radial map."""
    alpha = F.softplus(alpha_raw)
    return alpha, F.softplus(beta_raw) - alpha


def radial_ladj(r: Tensor, alpha: Tensor, beta: Tensor, features: int) -> Tensor:
    """log|det| of the radial map at radius r: (D - 1) log(1 + beta h) + log(1 + beta alpha h^2),
    h = 1 / (alpha + r)."""
    h = 1 / (alpha + r)
    return (features - 1) * torch.log1p(beta * h) + torch.log1p(beta * alpha * h * h)


def householder_product(vectors: Tensor) -> Tensor:
    """Q = H_1 H_2 ... H_k, H_i = I - 2 v_i v_i^T / ||v_i||^2, orthogonal; vectors
    (..., k, D) -> Q (..., D, D)."""
    d = vectors.shape[-1]
    q = torch.eye(d, dtype=vectors.dtype, device=vectors.device).expand(*vectors.shape[:-2], d, d)
    for v in vectors.unbind(-2):
        qv = (q @ v[..., None]) * (2 / (v * v).sum(-1))[..., None, None]
        q = q - qv @ v[..., None, :]
    return q


def _row_times(x: Tensor, matrix: Tensor) -> Tensor:
    """x A for rows x (..., D) and A (D, M) or per example (..., D, M): (..., M)."""
    return (x[..., None, :] @ matrix)[..., 0, :]


class _Amortised(Transform):
    """Parameters either held (`context` 0) or given per example by a linear head on the
    context. `_params(context)` returns them as the named shapes, with the batch
    dimensions of the context in front when amortised."""

    def _amortise(self, context: int, shapes: dict[str, tuple[int, ...]]) -> None:
        self.context_features = context or None
        self._shapes = shapes
        sizes = [math.prod(s) for s in shapes.values()]
        self.head = nn.Linear(context, sum(sizes)) if context else None
        self._sizes = sizes

    def _params(self, context: Tensor | None) -> list[Tensor]:
        if self.head is None:
            return [getattr(self, name) for name in self._shapes]
        parts = self.head(context).split(self._sizes, -1)
        return [
            p.unflatten(-1, s) if s else p[..., 0]
            for p, s in zip(parts, self._shapes.values(), strict=True)
        ]


def triangular(raw: Tensor) -> Tensor:
    """An upper triangular matrix with diagonal tanh(raw_ii) (so |r_ii| < 1): the R and R~
    of a Sylvester map; raw (..., M, M)."""
    return raw.triu(1) + torch.diag_embed(torch.tanh(raw.diagonal(dim1=-2, dim2=-1)))


class Planar(_Amortised):
    """K = `layers` planar maps in sequence (Rezende & Mohamed 2015, arXiv:1505.05770):
    z = f_K o ... o f_1 (x), f_k(y) = y + u_hat_k tanh(w_k^T y + b_k).

    ladj = sum_k log(1 + tanh'(a_k) w_k^T u_hat_k), a_k = w_k^T y_k + b_k at the input
    y_k of map k. The reparameterisation u_hat = u + (softplus(w^T u) - 1 - w^T u) w / ||w||^2
    gives w^T u_hat > -1, which makes each map invertible. Inverse, map by map from the
    last: with a = w^T y + b and t = w^T z + b, solve the increasing equation
    a + (w^T u_hat) tanh(a) = t on the bracket t -+ |w^T u_hat|, then y = z - u_hat tanh(a).
    One module holds all K maps, so their constraints are computed at once and each map
    costs three tensor operations. With `context` C, u, w, b come per example from a
    linear head on the context (amortised). Shapes: x, z (*batch, D); ladj (*batch);
    u, w (K, D), or (*batch, K, D) amortised.

    Args:
        features: D.
        layers: K, the number of planar maps held.
        generator: draws the initial parameters.
        context: C: u, w, b come per example from a linear head on a context of size C
            (amortised); 0 for free parameters.

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.Planar(2, layers=4)
        >>> x = torch.randn(6, 2)
        >>> z, ladj = f(x)
        >>> torch.allclose(f.inverse(z)[0], x, atol=1e-5)
        True
    """

    def __init__(
        self,
        features: int,
        layers: int = 1,
        generator: torch.Generator | None = None,
        context: int = 0,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"Planar: expected layers >= 1; got {layers}")
        self.event_shape = (features,)
        self._amortise(context, {"u": (layers, features), "w": (layers, features), "b": (layers,)})
        if not context:
            bound = features**-0.5
            init = lambda: (2 * torch.rand(layers, features, generator=generator) - 1) * bound  # noqa: E731
            self.u = nn.Parameter(init())
            self.w = nn.Parameter(init())
            self.b = nn.Parameter(torch.zeros(layers))

    def u_hat(self, context: Tensor | None = None) -> Tensor:
        """The constrained u of every map, (K, D) or (*batch, K, D)."""
        u, w, _ = self._params(context)
        return planar_u_hat(u, w)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        u, w, b = self._params(context)
        u_hat = planar_u_hat(u, w)
        slopes = (w * u_hat).sum(-1)  # w_k^T u_hat_k
        if self.head is not None:  # parameters per example: broadcast them
            ladj = 0
            for k in range(w.shape[-2]):
                h = torch.tanh((x * w[..., k, :]).sum(-1) + b[..., k])
                x = x + u_hat[..., k, :] * h[..., None]
                ladj = ladj + torch.log1p(slopes[..., k] * (1 - h * h))
            return x, ladj
        y = x.reshape(-1, x.shape[-1])  # shared parameters: one addmv and one addr a map
        hs = []
        for wk, bk, uk in zip(w, b, u_hat, strict=True):
            h = torch.tanh(torch.addmv(bk, y, wk))
            y = torch.addr(y, h, uk)
            hs.append(h)
        h = torch.stack(hs)  # (K, N)
        ladj = torch.log1p(slopes[:, None] * (1 - h * h)).sum(0)
        return y.reshape(x.shape), ladj.reshape(x.shape[:-1])

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        u, w, b = self._params(context)
        u_hat = planar_u_hat(u, w)
        y, ladj = z, 0
        for k in reversed(range(w.shape[-2])):
            wk, uk = w[..., k, :], u_hat[..., k, :]
            c = (wk * uk).sum(-1)
            t = (y * wk).sum(-1) + b[..., k]

            def equation(a: Tensor, c: Tensor = c, t: Tensor = t) -> tuple[Tensor, Tensor]:
                h = torch.tanh(a)
                return a + c * h - t, 1 + c * (1 - h * h)

            width = c.detach().abs()
            a = increasing_root(equation, t.detach() - width, t.detach() + width)
            value, slope = equation(a)
            a = a - value / slope  # the identity at the root; its gradient is implicit
            h = torch.tanh(a)
            y = y - h[..., None] * uk
            ladj = ladj - torch.log1p(c * (1 - h * h))
        return y, ladj


class Radial(_Amortised):
    """z = x + beta (x - x0) / (alpha + r), r = ||x - x0|| (Rezende & Mohamed 2015).

    alpha = softplus(a') > 0 and beta = -alpha + softplus(b') >= -alpha keep it invertible;
    ladj = (D - 1) log(1 + beta h) + log(1 + beta alpha h^2), h = 1 / (alpha + r).
    Inverse: ||z - x0|| = r (alpha + r + beta) / (alpha + r) is increasing in r, and the
    quadratic r^2 + (alpha + beta - r_z) r - alpha r_z = 0 gives r exactly (in its
    cancellation-free form); then x = x0 + (z - x0)(alpha + r) / (alpha + r + beta).
    Starts as the identity (beta = 0). With `context` C, x0, a', b' come per example from
    a linear head on the context (amortised).

    Args:
        features: D.
        generator: draws the initial parameters.
        context: C: x0, alpha, beta per example from a linear head on the context (0: free).

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.Radial(2)
        >>> z, ladj = f(torch.randn(6, 2))
        >>> z.shape, ladj.shape
        (torch.Size([6, 2]), torch.Size([6]))
    """

    def __init__(
        self, features: int, generator: torch.Generator | None = None, context: int = 0
    ) -> None:
        super().__init__()
        self.event_shape = (features,)
        self._amortise(context, {"x0": (features,), "alpha_raw": (), "beta_raw": ()})
        if not context:
            self.x0 = nn.Parameter(torch.randn(features, generator=generator))
            self.alpha_raw = nn.Parameter(torch.zeros(()))
            self.beta_raw = nn.Parameter(torch.zeros(()))

    def _centre_alpha_beta(self, context: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        x0, alpha_raw, beta_raw = self._params(context)
        return x0, *radial_parameters(alpha_raw, beta_raw)

    def _ladj(self, r: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
        return radial_ladj(r, alpha, beta, self.event_shape[0])

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        x0, alpha, beta = self._centre_alpha_beta(context)
        d = x - x0
        r = d.norm(dim=-1)
        return x + (beta / (alpha + r))[..., None] * d, self._ladj(r, alpha, beta)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        x0, alpha, beta = self._centre_alpha_beta(context)
        d = z - x0
        r_z = d.norm(dim=-1)
        p = alpha + beta - r_z
        root = torch.sqrt(p * p + 4 * alpha * r_z)
        r = torch.where(p > 0, 2 * alpha * r_z / (p + root).clamp_min(1e-30), (root - p) / 2)
        x = x0 + ((alpha + r) / (alpha + r + beta))[..., None] * d
        return x, -self._ladj(r, alpha, beta)


class Sylvester(_Amortised):
    """z = x + Q R tanh(R~ Q^T x + b) (van den Berg et al. 2018, arXiv:1803.05649).

    Q (D, M) has orthonormal columns; R, R~ (M, M) are upper triangular with diagonals
    tanh(.), so r_ii r~_ii > -1, which makes the map invertible. By Sylvester's determinant
    identity ladj = sum_i log(1 + r_ii r~_ii tanh'(u_i)), u = R~ Q^T x + b.
    Q is `orthogonal` (QR of a free D x M matrix, M <= D), `householder` (a product of
    `reflections` Householder reflections, M = D) or `triangular` (Q = I, M = D).
    With `context` C, all of them come per example from a linear head on the context
    (amortised: the H-SNF / O-SNF posteriors of the paper).

    Inverse: with v = Q^T x, the equation v + R tanh(R~ v + b) = Q^T z is upper triangular,
    so back-substitution solves it exactly: row i is an increasing scalar equation in v_i
    (slope 1 + r_ii r~_ii tanh' > 0) bracketed by its right-hand side -+ |r_ii|. Then
    x = z - Q R tanh(R~ v + b). Shapes: x, z (*batch, D); ladj (*batch).

    Args:
        features: D.
        m: M, the number of columns of Q (`orthogonal` only; D by default).
        q: "orthogonal", "householder" or "triangular", how Q is made.
        reflections: the Householder reflections (`householder`; D by default).
        generator: draws the initial parameters.
        context: C: every parameter per example from a linear head on the context (0: free).

    Example:
        >>> import torch, bijective as bj
        >>> f = bj.transforms.Sylvester(4, m=2)
        >>> x = torch.randn(3, 4)
        >>> z, ladj = f(x)
        >>> torch.allclose(f.inverse(z)[0], x, atol=1e-5)
        True
    """

    def __init__(
        self,
        features: int,
        m: int | None = None,
        q: Literal["orthogonal", "householder", "triangular"] = "orthogonal",
        reflections: int | None = None,
        generator: torch.Generator | None = None,
        context: int = 0,
    ) -> None:
        super().__init__()
        self.event_shape = (features,)
        self.q = q
        shapes: dict[str, tuple[int, ...]] = {}
        if q == "orthogonal":
            m = features if m is None else m
            if not 1 <= m <= features:
                raise ValueError(f"Sylvester: expected 1 <= m <= features={features}; got m={m}")
            shapes["q_raw"] = (features, m)
        elif q in ("householder", "triangular"):
            if m not in (None, features):
                raise ValueError(f"Sylvester: q='{q}' uses m = features = {features}; got m={m}")
            m = features
            if q == "householder":
                shapes["reflections"] = (features if reflections is None else reflections, features)
        else:
            raise ValueError(
                f"Sylvester: expected q in 'orthogonal', 'householder', 'triangular'; got {q!r}"
            )
        self.m = m
        self.register_buffer("eye", torch.eye(features), persistent=False)
        self._amortise(context, shapes | {"r": (m, m), "r_tilde": (m, m), "b": (m,)})
        if not context:
            for name, shape in shapes.items():
                setattr(self, name, nn.Parameter(torch.randn(shape, generator=generator)))
            # R = 0 makes the layer start as the identity; a random R~ lets gradients reach R.
            self.r = nn.Parameter(torch.zeros(m, m))
            self.r_tilde = nn.Parameter(torch.randn(m, m, generator=generator) * m**-0.5)
            self.b = nn.Parameter(torch.zeros(m))

    def orthonormal(self, context: Tensor | None = None) -> Tensor:
        """Q, shape (D, M) or (*batch, D, M) amortised, with Q^T Q = I."""
        return self._parts(context)[0]

    def _parts(self, context: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        *raw, r, rt, b = self._params(context)
        if self.q == "orthogonal":
            q = torch.linalg.qr(raw[0]).Q
        elif self.q == "householder":
            q = householder_product(raw[0])
        else:
            q = self.eye
        r, rt = triangular(r), triangular(rt)
        return q, r, rt, b, r.diagonal(dim1=-2, dim2=-1) * rt.diagonal(dim1=-2, dim2=-1)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        q, r, rt, b, diag = self._parts(context)
        h = torch.tanh(_row_times(x, q @ rt.mT) + b)
        return x + _row_times(h, r.mT @ q.mT), torch.log1p(diag * (1 - h * h)).sum(-1)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        q, r, rt, b, diag = self._parts(context)
        w = _row_times(z, q)
        v = _back_substitute(w.detach(), r.detach(), rt.detach(), b.detach())
        # One Newton step with autograd: exact at the root, and it carries the gradients.
        h = torch.tanh(_row_times(v, rt.mT) + b)
        eye = torch.eye(self.m, dtype=z.dtype, device=z.device)
        jacobian = eye + (r * (1 - h * h)[..., None, :]) @ rt
        residual = v + _row_times(h, r.mT) - w
        v = v - torch.linalg.solve_triangular(jacobian, residual[..., None], upper=True)[..., 0]
        h = torch.tanh(_row_times(v, rt.mT) + b)
        return z - _row_times(h, r.mT @ q.mT), -torch.log1p(diag * (1 - h * h)).sum(-1)


def _back_substitute(w: Tensor, r: Tensor, rt: Tensor, b: Tensor) -> Tensor:
    """v with v + R tanh(R~ v + b) = w, row by row from the last (R, R~ upper triangular,
    shared or per example)."""
    v = torch.zeros_like(w)
    h = torch.zeros_like(w)
    for i in reversed(range(w.shape[-1])):
        offset = (v[..., i + 1 :] * rt[..., i, i + 1 :]).sum(-1) + b[..., i]
        rhs = w[..., i] - (h[..., i + 1 :] * r[..., i, i + 1 :]).sum(-1)
        r_ii, rt_ii = r[..., i, i], rt[..., i, i]
        equation = _row_equation(r_ii, rt_ii, offset, rhs)
        v[..., i] = increasing_root(equation, rhs - r_ii.abs(), rhs + r_ii.abs())
        h[..., i] = torch.tanh(rt_ii * v[..., i] + offset)
    return v


def _row_equation(
    r_ii: Tensor, rt_ii: Tensor, offset: Tensor, rhs: Tensor
) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    # Row i of the Sylvester inverse: a + r_ii tanh(rt_ii a + offset) - rhs, and its slope.
    def equation(a: Tensor) -> tuple[Tensor, Tensor]:
        t = torch.tanh(rt_ii * a + offset)
        return a + r_ii * t - rhs, 1 + r_ii * rt_ii * (1 - t * t)

    return equation
