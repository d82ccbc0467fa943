"""bijective: normalizing flows in PyTorch.

A Transform maps data x to latent z and returns log|det dz/dx|; a Flow pairs a transform
with a base distribution for exact log-likelihoods and sampling.
"""

from . import data, distributions, flows, nn, objectives, targets, transforms
from .checks import CheckError, CheckReport, check
from .flows import Flow
from .validation import set_validation, validation_enabled

__version__ = "0.1.0"

__all__ = [
    "CheckError",
    "CheckReport",
    "Flow",
    "check",
    "data",
    "distributions",
    "flows",
    "nn",
    "objectives",
    "targets",
    "set_validation",
    "transforms",
    "validation_enabled",
]
