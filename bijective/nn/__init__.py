"""Conditioner networks: they map (input, context) to the parameters of a flow layer."""

from .mlp import MLP

__all__ = ["MLP"]
