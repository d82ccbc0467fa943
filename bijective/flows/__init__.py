"""Flows: a transform plus a base distribution, and ready-made architectures."""

from .base import Flow, FlowDistribution
from .maf import IAF, MAF
from .nice import NICE
from .nsf import NSF
from .realnvp import RealNVP

__all__ = ["IAF", "MAF", "NICE", "NSF", "Flow", "FlowDistribution", "RealNVP"]
