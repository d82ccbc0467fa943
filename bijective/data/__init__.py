"""Data sets: toy 2-D sets for now."""

from .toy import moons

__all__ = ["moons"]
