"""Flows: a transform plus a base distribution, and ready-made architectures."""

from .base import Flow, FlowDistribution
from .dequantized import DequantizedFlow, dequantized
from .ffjord import FFJORD
from .flow_matching import FlowMatching, ImageFlowMatching
from .glow import Glow, ImageRealNVP
from .maf import IAF, MAF
from .nice import NICE
from .nsf import NSF
from .realnvp import RealNVP
from .residual import ImageResidualFlow, PlanarFlow, RadialFlow, ResidualFlow
from .tarflow import ImageTarFlow, TarFlow

__all__ = [
    "DequantizedFlow",
    "FFJORD",
    "FlowMatching",
    "ImageFlowMatching",
    "Glow",
    "IAF",
    "ImageRealNVP",
    "ImageResidualFlow",
    "ImageTarFlow",
    "MAF",
    "NICE",
    "NSF",
    "Flow",
    "FlowDistribution",
    "PlanarFlow",
    "RadialFlow",
    "RealNVP",
    "ResidualFlow",
    "TarFlow",
    "dequantized",
]
