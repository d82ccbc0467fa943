"""The mixing layer placed between the steps of an architecture."""

from __future__ import annotations

from typing import Literal

from ..transforms import LULinear, Permutation, Transform

Mixing = Literal["reverse", "random", "lu"]


def mixing(features: int, kind: Mixing) -> Transform:
    """A reverse or random permutation, or a learnable LU-decomposed linear map."""
    if kind == "reverse":
        return Permutation.reverse(features)
    if kind == "random":
        return Permutation.random(features)
    if kind == "lu":
        return LULinear(features)
    raise ValueError(f"expected mixing 'reverse', 'random' or 'lu'; got {kind!r}")


def interleave(steps: list[Transform], features: int, kind: Mixing) -> list[Transform]:
    """step, mix, step, mix, ..., step: a mixing layer between consecutive steps."""
    layers: list[Transform] = []
    for i, step in enumerate(steps):
        if i:
            layers.append(mixing(features, kind))
        layers.append(step)
    return layers
