"""Conditioner networks: they map (input, context) to the parameters of a flow layer."""

from .made import MaskedLinear, MaskedMLP
from .mlp import MLP

__all__ = ["MLP", "MaskedLinear", "MaskedMLP"]
