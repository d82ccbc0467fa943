"""Conditioner networks: they map (input, context) to the parameters of a flow layer."""

from .lipschitz import LipschitzMLP, LipSwish, SpectralLinear
from .made import MaskedLinear, MaskedMLP
from .mlp import MLP
from .ode import ConcatSquashLinear, ODENet

__all__ = [
    "ConcatSquashLinear",
    "LipSwish",
    "LipschitzMLP",
    "MLP",
    "MaskedLinear",
    "MaskedMLP",
    "ODENet",
    "SpectralLinear",
]
