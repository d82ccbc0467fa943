"""The likelihood models flows are compared with: VAEs (with flow posteriors)."""

from .posteriors import (
    POSTERIORS,
    IAFPosterior,
    PlanarPosterior,
    Posterior,
    RadialPosterior,
    SylvesterPosterior,
)
from .vae import VAE

__all__ = [
    "POSTERIORS",
    "VAE",
    "IAFPosterior",
    "PlanarPosterior",
    "Posterior",
    "RadialPosterior",
    "SylvesterPosterior",
]
