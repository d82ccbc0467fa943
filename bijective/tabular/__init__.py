"""Models of whole tables (mixed columns): bijective.tabular.Tabular."""

from .model import Tabular

__all__ = ["Tabular"]
