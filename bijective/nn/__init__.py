"""Conditioner networks: they map (input, context) to the parameters of a flow layer."""

from .lipschitz import LipschitzConvNet, LipschitzMLP, LipSwish, SpectralConv2d, SpectralLinear
from .made import MaskedLinear, MaskedMLP
from .mlp import MLP
from .ode import ConcatSquashLinear, ODENet

__all__ = [
    "ConcatSquashLinear",
    "LipSwish",
    "LipschitzConvNet",
    "LipschitzMLP",
    "MLP",
    "MaskedLinear",
    "MaskedMLP",
    "ODENet",
    "SpectralConv2d",
    "SpectralLinear",
]
