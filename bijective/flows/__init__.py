"""Flows: a transform plus a base distribution (ready-made architectures come later)."""

from .base import Flow, FlowDistribution

__all__ = ["Flow", "FlowDistribution"]
