"""The 2-D toy densities of the flow literature, as defined by the toy-data generators of
FFJORD (Grathwohl et al. 2019) and Residual Flows (Chen et al. 2019), seeded.

Each function returns (x, labels): x (n, 2) and, where the set is a mixture of named
parts (a moon, a ring, a spiral, a mode), the part each point came from as int64 (n,);
None otherwise. The labels make the sets usable for conditional density estimation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

Toy = tuple[Tensor, Tensor | None]


def _shuffle(x: Tensor, y: Tensor | None, g: torch.Generator) -> Toy:
    order = torch.randperm(len(x), generator=g)
    return x[order].to(torch.get_default_dtype()), None if y is None else y[order]


def _normal(shape: tuple[int, ...], g: torch.Generator) -> Tensor:
    return torch.randn(shape, generator=g, dtype=torch.float64)


def _uniform(shape: tuple[int, ...], g: torch.Generator) -> Tensor:
    return torch.rand(shape, generator=g, dtype=torch.float64)


def _parts(n: int, k: int) -> list[int]:
    """n split into k near-equal part sizes."""
    return [n // k + (i < n % k) for i in range(k)]


def moons(n: int, noise: float = 0.1, seed: int = 0) -> Toy:
    """Two interleaving half circles (sklearn's make_moons: angles evenly spaced on [0, pi],
    N(0, noise^2) added), then scaled by 2 and shifted by (-1, -0.2). Labels: 0 outer, 1 inner."""
    g = torch.Generator().manual_seed(seed)
    outer, inner = (torch.linspace(0, math.pi, m, dtype=torch.float64) for m in _parts(n, 2))
    x = torch.cat(
        [
            torch.stack([outer.cos(), outer.sin()], -1),
            torch.stack([1 - inner.cos(), 0.5 - inner.sin()], -1),
        ]
    )
    x = 2 * (x + noise * _normal(x.shape, g)) + torch.tensor([-1.0, -0.2], dtype=torch.float64)
    y = torch.cat([torch.zeros(len(outer)), torch.ones(len(inner))]).long()
    return _shuffle(x, y, g)


def circles(n: int, noise: float = 0.08, seed: int = 0) -> Toy:
    """Two concentric circles of radii 1 and 0.5 (sklearn's make_circles, factor 0.5),
    N(0, noise^2) added, scaled by 3. Labels: 0 outer, 1 inner."""
    g = torch.Generator().manual_seed(seed)
    rings = []
    for m, radius in zip(_parts(n, 2), (1.0, 0.5), strict=True):
        angle = torch.arange(m, dtype=torch.float64) * (2 * math.pi / m)
        rings.append(radius * torch.stack([angle.cos(), angle.sin()], -1))
    x = 3 * (torch.cat(rings) + noise * _normal((n, 2), g))
    y = torch.cat([torch.full((len(r),), i) for i, r in enumerate(rings)]).long()
    return _shuffle(x, y, g)


def rings(n: int, noise: float = 0.08, seed: int = 0) -> Toy:
    """Four concentric circles of radii 3, 2.25, 1.5 and 0.75, evenly spaced points plus
    N(0, noise^2). Labels: the ring, 0 outermost."""
    g = torch.Generator().manual_seed(seed)
    parts = []
    for m, radius in zip(_parts(n, 4)[::-1], (1.0, 0.75, 0.5, 0.25), strict=True):
        angle = torch.arange(m, dtype=torch.float64) * (2 * math.pi / m)
        parts.append(3 * radius * torch.stack([angle.cos(), angle.sin()], -1))
    x = torch.cat(parts) + noise * _normal((n, 2), g)
    y = torch.cat([torch.full((len(p),), i) for i, p in enumerate(parts)]).long()
    return _shuffle(x, y, g)


def eight_gaussians(n: int, seed: int = 0) -> Toy:
    """A mixture of 8 equal Gaussians, std 0.5, centred on the circle of radius 4 at angles
    k pi / 4, the whole divided by 1.414. Labels: the component k."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(8, (n,), generator=g)
    angle = k.double() * (math.pi / 4)
    centres = 4 * torch.stack([angle.cos(), angle.sin()], -1)
    return _shuffle((centres + 0.5 * _normal((n, 2), g)) / 1.414, k, g)


def pinwheel(n: int, seed: int = 0) -> Toy:
    """Five arms: radial N(1, 0.3^2) and tangential N(0, 0.1^2) coordinates, rotated by the
    arm's angle 2 pi k / 5 plus 0.25 exp(radial), scaled by 2. Labels: the arm k."""
    g = torch.Generator().manual_seed(seed)
    k = torch.cat([torch.full((m,), i) for i, m in enumerate(_parts(n, 5))]).long()
    radial = 1 + 0.3 * _normal((n,), g)
    tangential = 0.1 * _normal((n,), g)
    angle = k.double() * (2 * math.pi / 5) + 0.25 * radial.exp()
    c, s = angle.cos(), angle.sin()
    x = 2 * torch.stack([radial * c + tangential * s, -radial * s + tangential * c], -1)
    return _shuffle(x, k, g)


def two_spirals(n: int, seed: int = 0) -> Toy:
    """Two interleaved spirals: t = sqrt(U) * 3 pi, the point (-t cos t, t sin t) plus
    U(0, 0.5)^2 jitter, the second spiral its reflection, divided by 3, plus N(0, 0.1^2).
    Labels: the spiral."""
    g = torch.Generator().manual_seed(seed)
    first, second = _parts(n, 2)
    t = _uniform((first,), g).sqrt() * (3 * math.pi)
    arm = torch.stack([-t.cos() * t, t.sin() * t], -1) + 0.5 * _uniform((first, 2), g)
    x = torch.cat([arm, -arm[:second]])
    x = x / 3 + 0.1 * _normal((n, 2), g)
    y = torch.cat([torch.zeros(first), torch.ones(second)]).long()
    return _shuffle(x, y, g)


def checkerboard(n: int, seed: int = 0) -> Toy:
    """Uniform on the 8 dark squares of a 4x4 checkerboard on [-4, 4]^2. No labels."""
    g = torch.Generator().manual_seed(seed)
    x1 = 4 * _uniform((n,), g) - 2
    x2 = _uniform((n,), g) - 2 * torch.randint(2, (n,), generator=g) + x1.floor() % 2
    return _shuffle(2 * torch.stack([x1, x2], -1), None, g)


def swissroll(n: int, noise: float = 1.0, seed: int = 0) -> Toy:
    """sklearn's make_swiss_roll seen from the side: t = 1.5 pi (1 + 2U), the point
    (t cos t, t sin t) plus N(0, noise^2), divided by 5. No labels."""
    g = torch.Generator().manual_seed(seed)
    t = 1.5 * math.pi * (1 + 2 * _uniform((n,), g))
    x = torch.stack([t * t.cos(), t * t.sin()], -1) + noise * _normal((n, 2), g)
    return _shuffle(x / 5, None, g)


TOY: dict[str, Callable[..., Toy]] = {
    "moons": moons,
    "circles": circles,
    "8gaussians": eight_gaussians,
    "checkerboard": checkerboard,
    "pinwheel": pinwheel,
    "2spirals": two_spirals,
    "rings": rings,
    "swissroll": swissroll,
}
