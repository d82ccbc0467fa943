"""The likelihood models flows are compared with: VAEs (with flow posteriors)."""

from .posteriors import POSTERIORS, Posterior
from .vae import VAE

__all__ = ["POSTERIORS", "VAE", "Posterior"]
