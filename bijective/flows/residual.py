"""Flows of residual maps z = x + g(x) from Rezende & Mohamed 2015: planar and radial."""

from __future__ import annotations

from ..distributions import StandardNormal
from ..transforms import Compose, Planar, Radial
from .base import Flow


def _no_context(name: str, context: int) -> None:
    if context:
        raise ValueError(f"{name}: has no conditional form; expected context=0, got {context}")


class PlanarFlow(Flow):
    """K = `layers` planar maps (Rezende & Mohamed 2015, arXiv:1505.05770, eq. 10) on a
    standard normal. The cheap direction is sampling (the paper's direction): used for
    variational inference, where log q of its own samples needs no inversion; log_prob of
    given points inverts each map by a bracketed scalar root find."""

    def __init__(self, features: int, context: int = 0, layers: int = 8) -> None:
        _no_context("PlanarFlow", context)
        super().__init__(Planar(features, layers).inv, StandardNormal(features))


class RadialFlow(Flow):
    """K = `layers` radial maps (Rezende & Mohamed 2015, eq. 14) on a standard normal,
    applied in the sampling direction like PlanarFlow; their inverses are closed form."""

    def __init__(self, features: int, context: int = 0, layers: int = 8) -> None:
        _no_context("RadialFlow", context)
        maps = Compose(*(Radial(features) for _ in range(layers)))
        super().__init__(maps.inv, StandardNormal(features))
