"""A variational autoencoder for binary data, with a Gaussian or flow posterior."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import objectives
from ..gaussian import log_normal
from ..nn import MLP
from ..recorded import Recorded
from ..validation import check_context, check_sampling
from .posteriors import POSTERIORS, Posterior, PosteriorName


class VAE(Recorded, nn.Module):
    """p(z) = N(0, I_L), p(x | z) = Bernoulli(sigmoid(decoder(z))) on x in {0, 1}^D, and an
    amortised posterior q(z | x) from `bijective.models.posteriors` (diagonal, planar,
    radial, sylvester or iaf, with `steps` maps) on the encoder's features h(x).

    log_weights(x, S) gives log p(x, z_s) and log q(z_s | x) for S samples; elbo(x) is
    E_q[log p(x, z) - log q(z | x)] <= log p(x); log_prob(x, samples=S) is the importance-
    weighted estimate log (1/S) sum_s p(x, z_s) / q(z_s | x) (Burda et al. 2016), a lower
    bound in expectation that tends to log p(x) as S grows. Shapes: x (N, D) -> (N).
    A `bijective.Density` without a conditional form: a context raises.

    Args:
        features: D, the binary variables.
        latent: L, the latent dimensions.
        hidden: the encoder's and the decoder's hidden sizes.
        posterior: "diagonal", "planar", "radial", "sylvester" or "iaf".
        steps: K, the posterior flow's maps.

    Example:
        >>> import torch, bijective as bj
        >>> vae = bj.models.VAE(features=8, latent=2, hidden=(16,), posterior="planar", steps=2)
        >>> x = torch.randint(0, 2, (4, 8)).float()
        >>> vae.elbo(x).shape, vae.log_prob(x, samples=10).shape
        (torch.Size([4]), torch.Size([4]))
    """

    def __init__(
        self,
        features: int,
        latent: int = 16,
        hidden: Sequence[int] = (300, 300),
        posterior: PosteriorName = "diagonal",
        steps: int = 0,
    ) -> None:
        super().__init__()
        if posterior not in POSTERIORS:
            raise ValueError(
                f"VAE: unknown posterior {posterior!r}; allowed: {', '.join(POSTERIORS)}"
            )
        if (posterior == "diagonal") != (steps == 0):
            raise ValueError(
                f"VAE: posterior {posterior!r} with steps={steps}: "
                "the diagonal posterior has 0 steps, flow posteriors at least 1"
            )
        self.features, self.latent = features, latent
        self.event_shape = (features,)
        *layers, last = hidden
        self.encoder = nn.Sequential(
            MLP(features, last, layers, activation=nn.ELU, zero_init=False), nn.ELU()
        )
        self.posterior = Posterior(last, latent, posterior, steps)
        self.decoder = MLP(
            latent, features, tuple(reversed(hidden)), activation=nn.ELU, zero_init=False
        )

    def log_weights(self, x: Tensor, samples: int = 1) -> tuple[Tensor, Tensor]:
        """(log p(x, z), log q(z | x)) for `samples` draws z ~ q(z | x), each (S, N)."""
        z, log_q = self.posterior(self.encoder(x), samples)
        logits = self.decoder(z)
        log_px_z = -F.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none"
        ).sum(-1)
        log_pz = log_normal(z).sum(-1)
        return log_px_z + log_pz, log_q

    def elbo(self, x: Tensor, samples: int = 1) -> Tensor:
        """The ELBO of each row, averaged over `samples` draws: (N)."""
        return objectives.elbo(*self.log_weights(x, samples))

    @torch.no_grad()
    def log_prob(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        samples: int = 1000,
        chunk: int = 100,
    ) -> Tensor:
        """log p(x) estimated by importance sampling with `samples` draws from q(z | x),
        `chunk` draws at a time (each chunk's bound weighted by its size and combined
        exactly by log-sum-exp): (N)."""
        check_context("VAE.log_prob", context, 0)
        parts = []
        for start in range(0, samples, chunk):
            size = min(chunk, samples - start)
            parts.append(objectives.iwae(*self.log_weights(x, size)) + math.log(size))
        return torch.logsumexp(torch.stack(parts), 0) - math.log(samples)

    @torch.no_grad()
    def sample(
        self,
        shape: Sequence[int] | int = (),
        context: Tensor | None = None,
        temperature: float = 1.0,
        *,
        mean: bool = False,
    ) -> Tensor:
        """x ~ p(x | z), z ~ N(0, T^2 I) at temperature T; with `mean`, the Bernoulli means
        instead of binary draws: (*shape, D)."""
        shape = check_sampling("VAE.sample", shape, temperature, context, 0)
        anchor = self.decoder.net[0].weight
        z = temperature * torch.randn(*shape, self.latent, dtype=anchor.dtype, device=anchor.device)
        probs = torch.sigmoid(self.decoder(z))
        return probs if mean else torch.bernoulli(probs)
