"""Targets: the Table 1 energies as written in the paper, and every log normaliser checked
by independent quadrature."""

import math

import pytest
import torch

from bijective import targets
from bijective.targets import grid_log_normalizer


def table_1(name: str, z1: float, z2: float) -> float:
    """U(z) of Rezende & Mohamed 2015, Table 1, in scalar math (no wall: |z1| <= 4)."""
    w1 = math.sin(2 * math.pi * z1 / 4)
    w2 = 3 * math.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)
    w3 = 3 / (1 + math.exp(-(z1 - 1) / 0.3))
    g = lambda a, s: math.exp(-0.5 * (a / s) ** 2)  # noqa: E731
    if name == "u1":
        r = math.hypot(z1, z2)
        return 0.5 * ((r - 2) / 0.4) ** 2 - math.log(g(z1 - 2, 0.6) + g(z1 + 2, 0.6))
    if name == "u2":
        return 0.5 * ((z2 - w1) / 0.4) ** 2
    if name == "u3":
        return -math.log(g(z2 - w1, 0.35) + g(z2 - w1 + w2, 0.35))
    return -math.log(g(z2 - w1, 0.4) + g(z2 - w1 + w3, 0.35))


@pytest.mark.parametrize("name", ["u1", "u2", "u3", "u4"])
def test_energies_follow_table_1_inside_the_box(name):
    target = targets.get(name)
    points = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    points = 8 * points - 4
    got = -target.log_prob(points)
    want = torch.tensor([table_1(name, float(a), float(b)) for a, b in points], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["u2", "u3", "u4"])
def test_the_wall_confines_z1(name):
    target = targets.get(name)
    inside = torch.tensor([[3.9, 0.0]], dtype=torch.float64)
    outside = torch.tensor([[5.0, 0.0]], dtype=torch.float64)
    # 1 past the edge at width 0.2: 12.5 nats lower than the same z2 without the wall.
    unwalled = -table_1(name, 5.0, 0.0)
    assert float(target.log_prob(outside)) == pytest.approx(unwalled - 12.5, abs=1e-9)
    assert float(target.log_prob(inside)) == pytest.approx(-table_1(name, 3.9, 0.0), abs=1e-12)


@pytest.mark.parametrize("name", ["u1", "u2", "u3", "u4"])
def test_log_normalizer_is_converged_in_grid_and_box(name):
    """A finer grid and a wider box give the same log Z: the box holds the mass and
    the grid resolves it."""
    target = targets.get(name)
    (a, b), (c, d) = target.bounds
    wider = ((a - 2, b + 2), (c - 2, d + 2))
    check = grid_log_normalizer(target.log_prob, wider, points=3001)
    assert target.log_normalizer == pytest.approx(check, abs=1e-6)


def test_u1_normalizer_value():
    # The ring of radius 2 and width 0.4 holds about 2 pi * 2 * sqrt(2 pi) 0.4 of mass
    # before the two-mode factor: a loose sanity bound on the computed number.
    z = targets.U1().log_normalizer
    assert 0 < math.exp(z) < 2 * math.pi * 2 * math.sqrt(2 * math.pi) * 0.4 * 2


@pytest.mark.parametrize("name", ["banana", "ring"])
def test_closed_form_normalizers_match_quadrature(name):
    target = targets.get(name)
    assert target._closed_form is not None
    quadrature = grid_log_normalizer(target.log_prob, target.bounds)
    assert target.log_normalizer == pytest.approx(quadrature, abs=1e-6)


def test_funnel_normalizer_matches_quadrature_in_scaled_coordinates():
    """z2 = e^(v/2) t straightens the funnel's neck: integrate p~(v, e^(v/2) t) e^(v/2)."""
    target = targets.Funnel()

    def scaled(g):
        v, t = g[..., 0], g[..., 1]
        return target.log_prob(torch.stack([v, (v / 2).exp() * t], -1)) + v / 2

    quadrature = grid_log_normalizer(scaled, ((-40.0, 40.0), (-12.0, 12.0)), points=3001)
    assert target.log_normalizer == pytest.approx(quadrature, abs=1e-6)


def test_funnel_in_more_dimensions():
    target = targets.Funnel(5)
    z = torch.randn(7, 5, dtype=torch.float64)
    v, rest = z[:, 0], z[:, 1:]
    normal = torch.distributions.Normal
    want = normal(0, 3).log_prob(v) + normal(0, (v / 2).exp()[:, None]).log_prob(rest).sum(-1)
    torch.testing.assert_close(target.normalized_log_prob(z), want)


def test_user_callable_target():
    gauss = lambda z: -0.5 * (z * z).sum(-1)  # noqa: E731
    with_bounds = targets.FromCallable(gauss, 2, bounds=[(-9, 9), (-9, 9)])
    assert with_bounds.log_normalizer == pytest.approx(math.log(2 * math.pi), abs=1e-9)
    given = targets.FromCallable(gauss, 3, log_normalizer=1.5 * math.log(2 * math.pi))
    assert given.log_normalizer == pytest.approx(1.5 * math.log(2 * math.pi))
    with pytest.raises(ValueError, match="log normaliser unknown"):
        _ = targets.FromCallable(gauss, 3).log_normalizer


def test_wrong_shape_and_unknown_name():
    with pytest.raises(ValueError, match=r"expected z of shape \(\*batch, 2\); got \(4, 3\)"):
        targets.U1().log_prob(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="unknown target 'u5'"):
        targets.get("u5")
