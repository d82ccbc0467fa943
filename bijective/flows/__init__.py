"""Flows: a transform plus a base distribution, and ready-made architectures."""

from .base import Flow, FlowDistribution
from .dequantized import DequantizedFlow, dequantized
from .ffjord import FFJORD
from .glow import Glow, ImageRealNVP
from .maf import IAF, MAF
from .nice import NICE
from .nsf import NSF
from .realnvp import RealNVP
from .residual import ImageResidualFlow, PlanarFlow, RadialFlow, ResidualFlow

__all__ = [
    "DequantizedFlow",
    "FFJORD",
    "Glow",
    "IAF",
    "ImageRealNVP",
    "ImageResidualFlow",
    "MAF",
    "NICE",
    "NSF",
    "Flow",
    "FlowDistribution",
    "PlanarFlow",
    "RadialFlow",
    "RealNVP",
    "ResidualFlow",
    "dequantized",
]
