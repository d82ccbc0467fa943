"""Amortised flow posteriors q(z | x) for VAEs, built from the library's own transforms.

Every posterior starts from a diagonal Gaussian q0(z0 | x) = N(mu(h), diag sigma(h)^2),
with h the encoder's features of x, and pushes z0 through K maps z_K = f(z0; h), a
conditional Transform whose parameters come from h through its `context` (amortised):
log q(z_K | x) = log q0(z0 | x) - log|det dz_K/dz0|.
Shapes: h (N, H); samples z (S, N, L); log q (S, N).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from ..flows import IAF
from ..gaussian import log_normal
from ..transforms import Compose, Planar, Radial, Sylvester, Transform

PosteriorName = Literal["diagonal", "planar", "radial", "sylvester", "iaf"]


class Posterior(nn.Module):
    """q(z | x): the diagonal Gaussian q0 (Kingma & Welling 2014) of linear heads on h,
    then the K-map conditional flow POSTERIORS[`flow`] (context H, applied forward
    z0 -> z_K); "diagonal" has none. forward(h, samples) -> (z (S, N, L), log q (S, N)).

    Args:
        hidden: H, the size of the encoder's features h.
        latent: L.
        flow: "diagonal", "planar", "radial", "sylvester" or "iaf".
        steps: K, the flow's maps.

    Example:
        >>> import torch, bijective as bj
        >>> q = bj.models.Posterior(hidden=16, latent=2, flow="sylvester", steps=2)
        >>> z, log_q = q(torch.randn(5, 16), samples=3)
        >>> z.shape, log_q.shape
        (torch.Size([3, 5, 2]), torch.Size([3, 5]))
    """

    def __init__(
        self, hidden: int, latent: int, flow: PosteriorName = "diagonal", steps: int = 0
    ) -> None:
        super().__init__()
        self.latent = latent
        self.loc = nn.Linear(hidden, latent)
        self.log_scale = nn.Linear(hidden, latent)
        self.flow = POSTERIORS[flow](latent, hidden, steps)

    def forward(self, h: Tensor, samples: int = 1) -> tuple[Tensor, Tensor]:
        mu, log_sigma = self.loc(h), self.log_scale(h)
        eps = torch.randn(samples, *mu.shape, dtype=mu.dtype, device=mu.device)
        z = mu + log_sigma.exp() * eps
        log_q0 = (log_normal(eps) - log_sigma).sum(-1)
        if self.flow is None:
            return z, log_q0
        z, ladj = self.flow._forward(z, h)
        return z, log_q0 - ladj


def _sylvester(latent: int, hidden: int, steps: int) -> Transform:
    # H-SNF (van den Berg et al. 2018): Q a product of 4 Householder reflections per map.
    maps = (Sylvester(latent, q="householder", reflections=4, context=hidden) for _ in range(steps))
    return Compose(*maps)


# name -> the K-map conditional flow on L latents with context H (None: no flow).
POSTERIORS: dict[str, Callable[[int, int, int], Transform | None]] = {
    "diagonal": lambda latent, hidden, steps: None,
    # K planar maps (Rezende & Mohamed 2015, section 4.1).
    "planar": lambda latent, hidden, steps: Planar(latent, steps, context=hidden),
    # K radial maps (Rezende & Mohamed 2015).
    "radial": lambda latent, hidden, steps: Compose(
        *(Radial(latent, context=hidden) for _ in range(steps))
    ),
    "sylvester": _sylvester,
    # K inverse autoregressive steps (Kingma et al. 2016): IAF layers in their one-pass
    # direction z0 -> z_K, h the context of their MADEs.
    "iaf": lambda latent, hidden, steps: IAF(latent, hidden, transforms=steps).transform.inv,
}
