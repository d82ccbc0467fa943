"""Coupling masks: boolean tensors of the event shape; True marks the entries a coupling
layer keeps (and conditions on), False the entries it transforms. `~mask` swaps the roles.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def alternating(features: int, even: bool = True) -> Tensor:
    """Keeps entries 0, 2, 4, ... (or 1, 3, 5, ... with even=False)."""
    keep = torch.arange(features) % 2 == 0
    return keep if even else ~keep


def half(features: int, first: bool = True) -> Tensor:
    """Keeps the first ceil(D/2) entries (or the last floor(D/2) with first=False)."""
    keep = torch.arange(features) < (features + 1) // 2
    return keep if first else ~keep


def random(features: int, generator: torch.Generator | None = None) -> Tensor:
    """Keeps a random half (ceil(D/2) entries): the count is fixed, the choice random."""
    keep = torch.zeros(features, dtype=torch.bool)
    keep[torch.randperm(features, generator=generator)[: (features + 1) // 2]] = True
    return keep


def checkerboard(shape: Sequence[int], even: bool = True) -> Tensor:
    """For images (C, H, W): keeps pixels with (h + w) even (odd with even=False), in every
    channel (RealNVP, Dinh et al. 2017)."""
    c, h, w = _image(shape)
    keep = (torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2 == 0
    keep = keep.expand(c, h, w).clone()
    return keep if even else ~keep


def channel(shape: Sequence[int], first: bool = True) -> Tensor:
    """For images (C, H, W): keeps the first ceil(C/2) channels (the rest with first=False)."""
    c, h, w = _image(shape)
    keep = (torch.arange(c) < (c + 1) // 2)[:, None, None].expand(c, h, w).clone()
    return keep if first else ~keep


def _image(shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ValueError(f"expected an image shape (C, H, W); got {tuple(shape)}")
    c, h, w = (int(s) for s in shape)
    return c, h, w
