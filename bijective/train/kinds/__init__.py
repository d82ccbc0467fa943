"""Experiment kinds, one file each, by the name the catalogue's entries give: a kind
says which config section it fits (data or target) and builds the Experiment."""

from . import density, latent, variational
from .base import Experiment, Kind, Run

KINDS: dict[str, Kind] = {
    "density": Kind("data", density.build),
    "variational": Kind("target", variational.build),
    "latent": Kind("data", latent.build),
}

__all__ = ["KINDS", "Experiment", "Kind", "Run"]
