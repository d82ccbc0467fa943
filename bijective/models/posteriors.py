"""Amortised flow posteriors q(z | x) for VAEs.

Every posterior starts from a diagonal Gaussian q0(z0 | x) = N(mu(h), diag sigma(h)^2),
with h the encoder's features of x, and pushes z0 through K maps z_k = f_k(z_{k-1}),
whose parameters are, where the method calls for it, outputs of linear heads on h
(amortised): log q(z_K | x) = log q0(z0 | x) - sum_k log|det df_k/dz_{k-1}|.
Shapes: h (N, H); samples z (S, N, L); log q (S, N).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..flows import IAF
from ..transforms.residual import (
    householder_product,
    planar_u_hat,
    radial_ladj,
    radial_parameters,
    triangular,
)

_LOG_2PI = math.log(2 * math.pi)


class Posterior(nn.Module):
    """The diagonal Gaussian posterior q0(z | x) (Kingma & Welling 2014); subclasses add
    K maps in `flow`. forward(h, samples) -> (z (S, N, L), log q(z | x) (S, N))."""

    def __init__(self, hidden: int, latent: int, steps: int = 0) -> None:
        super().__init__()
        self.latent, self.steps = latent, steps
        self.loc = nn.Linear(hidden, latent)
        self.log_scale = nn.Linear(hidden, latent)

    def forward(self, h: Tensor, samples: int = 1) -> tuple[Tensor, Tensor]:
        mu, log_sigma = self.loc(h), self.log_scale(h)
        eps = torch.randn(samples, *mu.shape, dtype=mu.dtype, device=mu.device)
        z = mu + log_sigma.exp() * eps
        log_q0 = (-0.5 * (eps * eps + _LOG_2PI) - log_sigma).sum(-1)
        z, ladj = self.flow(z, h)
        return z, log_q0 - ladj

    def flow(self, z: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """z_K and sum_k log|det dz_k/dz_{k-1}| (S, N); the identity here."""
        return z, torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)


class PlanarPosterior(Posterior):
    """K amortised planar maps z + u_hat tanh(w^T z + b) (Rezende & Mohamed 2015, section
    4.1), with u, w, b from h; u_hat as in transforms.Planar."""

    def __init__(self, hidden: int, latent: int, steps: int) -> None:
        super().__init__(hidden, latent, steps)
        self.u = nn.Linear(hidden, steps * latent)
        self.w = nn.Linear(hidden, steps * latent)
        self.b = nn.Linear(hidden, steps)

    def flow(self, z: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        shape = (*h.shape[:-1], self.steps, self.latent)
        w = self.w(h).view(shape)
        u = planar_u_hat(self.u(h).view(shape), w)
        b = self.b(h)
        ladj = 0
        for k in range(self.steps):
            a = torch.tanh((z * w[..., k, :]).sum(-1) + b[..., k])
            z = z + u[..., k, :] * a[..., None]
            slope = (w[..., k, :] * u[..., k, :]).sum(-1)
            ladj = ladj + torch.log1p(slope * (1 - a * a))
        return z, ladj


class RadialPosterior(Posterior):
    """K amortised radial maps z + beta (z - z0) / (alpha + ||z - z0||) (Rezende & Mohamed
    2015), with z0, alpha, beta from h; constrained as in transforms.Radial."""

    def __init__(self, hidden: int, latent: int, steps: int) -> None:
        super().__init__(hidden, latent, steps)
        self.center = nn.Linear(hidden, steps * latent)
        self.alpha = nn.Linear(hidden, steps)
        self.beta = nn.Linear(hidden, steps)

    def flow(self, z: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        centers = self.center(h).view(*h.shape[:-1], self.steps, self.latent)
        alpha, beta = radial_parameters(self.alpha(h), self.beta(h))
        ladj = 0
        for k in range(self.steps):
            d = z - centers[..., k, :]
            r = d.norm(dim=-1)
            a, bt = alpha[..., k], beta[..., k]
            z = z + (bt / (a + r))[..., None] * d
            ladj = ladj + radial_ladj(r, a, bt, self.latent)
        return z, ladj


class SylvesterPosterior(Posterior):
    """K amortised Householder Sylvester maps z + Q R tanh(R~ Q^T z + b) (van den Berg
    et al. 2018, H-SNF): R, R~ upper triangular with tanh diagonals, b, and the
    `reflections` Householder vectors making Q, all from h; log|det| as in
    transforms.Sylvester."""

    def __init__(self, hidden: int, latent: int, steps: int, reflections: int = 4) -> None:
        super().__init__(hidden, latent, steps)
        self.reflections = reflections
        self.r = nn.Linear(hidden, steps * latent * latent)
        self.r_tilde = nn.Linear(hidden, steps * latent * latent)
        self.b = nn.Linear(hidden, steps * latent)
        self.vectors = nn.Linear(hidden, steps * reflections * latent)

    def flow(self, z: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        batch, m, steps = h.shape[:-1], self.latent, self.steps
        r = triangular(self.r(h).view(*batch, steps, m, m))
        rt = triangular(self.r_tilde(h).view(*batch, steps, m, m))
        b = self.b(h).view(*batch, steps, m)
        q = householder_product(self.vectors(h).view(*batch, steps, self.reflections, m))
        # Rows: z Q R~^T is (R~ Q^T z)^T and h R^T Q^T is (Q R h)^T; both products per step.
        into, out = q @ rt.mT, r.mT @ q.mT
        diag = r.diagonal(dim1=-2, dim2=-1) * rt.diagonal(dim1=-2, dim2=-1)  # (N, K, M)
        ladj = 0
        for k in range(steps):
            a = torch.tanh(torch.einsum("...nl,nlm->...nm", z, into[:, k]) + b[:, k])
            z = z + torch.einsum("...nl,nlm->...nm", a, out[:, k])
            ladj = ladj + torch.log1p(diag[:, k] * (1 - a * a)).sum(-1)
        return z, ladj


class IAFPosterior(Posterior):
    """K inverse autoregressive steps (Kingma et al. 2016): bj.flows.IAF's affine MADE
    layers with h as their context, run in their one-pass direction z0 -> z_K."""

    def __init__(
        self, hidden: int, latent: int, steps: int, made: Sequence[int] = (128, 128)
    ) -> None:
        super().__init__(hidden, latent, steps)
        self.iaf = IAF(latent, hidden, transforms=steps, hidden=made)

    def flow(self, z: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        return self.iaf.transform._inverse(z, h)


POSTERIORS: dict[str, type[Posterior]] = {
    "diagonal": Posterior,
    "planar": PlanarPosterior,
    "radial": RadialPosterior,
    "sylvester": SylvesterPosterior,
    "iaf": IAFPosterior,
}
