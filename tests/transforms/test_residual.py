"""Planar, radial and Sylvester: the constraints that make them invertible, and the exact
numerical inverses (convergence at extreme parameters, gradients through the root)."""

from __future__ import annotations

import pytest
import torch
from registry import randomise

import bijective as bj
from bijective.transforms.roots import increasing_root

T = bj.transforms


def test_increasing_root_solves_to_relative_tolerance() -> None:
    # a^3 + a - y = 0 is increasing; its root is known by construction.
    truth = torch.linspace(-50, 50, 101, dtype=torch.float64)
    y = truth**3 + truth
    root = increasing_root(lambda a: (a**3 + a - y, 3 * a * a + 1), y.abs().neg() - 1, y.abs() + 1)
    assert ((root - truth).abs() <= 1e-10 * (1 + truth.abs())).all()


def test_increasing_root_float32_meets_1e6_relative() -> None:
    truth = torch.linspace(-5, 5, 41)
    y = truth + 0.99 * torch.tanh(3 * truth)
    root = increasing_root(
        lambda a: (a + 0.99 * torch.tanh(3 * a) - y, 1 + 2.97 * (1 - torch.tanh(3 * a) ** 2)),
        y - 1,
        y + 1,
    )
    assert root.dtype == torch.float32
    assert ((root - truth).abs() <= 1e-6 * (1 + truth.abs())).all()


def test_increasing_root_survives_a_nearly_flat_function() -> None:
    """Slope 1 + c tanh' with c -> -1 is nearly 0 at the root: Newton alone overshoots,
    the bracket keeps it converging."""
    c = -1 + 1e-9
    y = torch.tensor([0.0, 1e-6, -0.3], dtype=torch.float64)
    root = increasing_root(
        lambda a: (a + c * torch.tanh(a) - y, 1 + c * (1 - torch.tanh(a) ** 2)), y - 1, y + 1
    )
    residual = root + c * torch.tanh(root) - y
    assert residual.abs().max() < 1e-12


def test_planar_u_hat_guarantees_invertibility_for_adversarial_u() -> None:
    t = T.Planar(3).double()
    with torch.no_grad():
        t.w.copy_(torch.tensor([1.0, -2.0, 0.5]))
        t.u.copy_(-10 * t.w)  # w^T u = -52.5 would make the raw map non-invertible
    assert float((t.w * t.u_hat()).sum().detach()) > -1
    x = torch.randn(200, 3, dtype=torch.float64) * 3
    z, ladj = t(x)
    assert torch.isfinite(ladj).all()
    torch.testing.assert_close(t.inverse(z)[0], x, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("scale", [1.0, 5.0, 20.0])
def test_planar_inverse_converges_at_extreme_parameters(scale: float) -> None:
    torch.manual_seed(0)
    t = randomise(T.Planar(4).double(), scale, replace=True)
    x = 5 * torch.randn(500, 4, dtype=torch.float64)
    z, _ = t(x)
    x2, _ = t.inverse(z)
    assert ((x2 - x).abs() <= 1e-6 * (1 + x.abs())).all()


def test_radial_beta_constraint_and_inverse_near_the_boundary() -> None:
    t = T.Radial(3).double()
    with torch.no_grad():
        t.alpha_raw.fill_(2.0)
        t.beta_raw.fill_(-30.0)  # beta = -alpha + 1e-13: the edge of invertibility
    with torch.no_grad():
        _, alpha, beta = t._centre_alpha_beta(None)
    assert float(beta) >= -float(alpha)
    x = (
        torch.randn(300, 3, dtype=torch.float64)
        * torch.logspace(-3, 3, 300, dtype=torch.float64)[:, None]
    )
    z, ladj = t(x)
    assert torch.isfinite(ladj).all()
    x2, _ = t.inverse(z)
    assert ((x2 - x).abs() <= 1e-6 * (1 + x.abs())).all()


@pytest.mark.parametrize("q", ["orthogonal", "householder", "triangular"])
def test_sylvester_q_is_orthonormal(q: str) -> None:
    t = randomise(T.Sylvester(5, q=q).double(), replace=True)
    qm = t.orthonormal()
    torch.testing.assert_close(qm.T @ qm, torch.eye(qm.shape[1], dtype=torch.float64))


@pytest.mark.parametrize("q,m", [("orthogonal", 3), ("orthogonal", 6), ("householder", None)])
@pytest.mark.parametrize("diagonal", [-8.0, 8.0])
def test_sylvester_inverse_converges_for_constrained_extremes(
    q: str, m: int | None, diagonal: float
) -> None:
    """r_ii r~_ii -> -1 (opposite saturated tanh diagonals) is the hardest constrained case:
    back-substitution with bracketed Newton still inverts to 1e-6, with large off-diagonals."""
    torch.manual_seed(1)
    t = randomise(T.Sylvester(6, m=m, q=q).double(), 4.0, replace=True)
    with torch.no_grad():
        t.r.diagonal().fill_(diagonal)
        t.r_tilde.diagonal().fill_(-diagonal)
    with torch.no_grad():
        _, r, rt, _, diag = t._parts(None)
    assert (diag > -1).all() and float(diag.min()) < -0.999
    x = 3 * torch.randn(400, 6, dtype=torch.float64)
    z, ladj = t(x)
    assert torch.isfinite(ladj).all()
    x2, _ = t.inverse(z)
    assert ((x2 - x).abs() <= 1e-6 * (1 + x.abs())).all()


def _gradcheck_inverse(t: bj.transforms.Transform, z: torch.Tensor) -> None:
    """Finite differences against autograd for (x, ladj) = inverse(z) as a function of z and
    of every parameter: checks the implicit-function gradient of the numerical inverse."""
    inv = t.inv
    names = [name for name, _ in inv.named_parameters()]
    values = [p.detach().clone().requires_grad_() for p in inv.parameters()]

    def inverse(z: torch.Tensor, *values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.func.functional_call(inv, dict(zip(names, values, strict=True)), (z,))

    assert torch.autograd.gradcheck(inverse, (z.clone().requires_grad_(), *values))


@pytest.mark.parametrize(
    "build",
    [
        lambda: T.Planar(3),
        lambda: T.Radial(3),
        lambda: T.Sylvester(3),
        lambda: T.Sylvester(4, m=2),
        lambda: T.Sylvester(3, q="householder", reflections=2),
    ],
    ids=["planar", "radial", "sylvester", "sylvester-m2", "sylvester-householder"],
)
def test_inverse_gradients_match_finite_differences(build) -> None:
    torch.manual_seed(3)
    t = randomise(build().double(), 0.7)
    _gradcheck_inverse(t, torch.randn(4, t.event_shape[0], dtype=torch.float64))


def test_sylvester_rejects_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="1 <= m <= features=3"):
        T.Sylvester(3, m=4)
    with pytest.raises(ValueError, match="householder"):
        T.Sylvester(3, m=2, q="householder")
    with pytest.raises(ValueError, match="expected q in"):
        T.Sylvester(3, q="cayley")


def test_radial_and_sylvester_start_as_the_identity() -> None:
    x = torch.randn(10, 4)
    for t in [T.Radial(4), T.Sylvester(4), T.Sylvester(4, q="householder")]:
        z, ladj = t(x)
        torch.testing.assert_close(z, x)
        torch.testing.assert_close(ladj, torch.zeros(10))


def test_a_planar_stack_is_its_maps_composed_in_order() -> None:
    g = torch.Generator().manual_seed(0)
    stack = randomise(T.Planar(3, layers=4, generator=g).double(), 0.7, g)
    maps = [T.Planar(3).double() for _ in range(4)]
    with torch.no_grad():
        for k, m in enumerate(maps):
            m.u.copy_(stack.u[k]), m.w.copy_(stack.w[k]), m.b.copy_(stack.b[k])
    x = torch.randn(2, 6, 3, dtype=torch.float64, generator=g)
    for got, want in zip(stack(x), T.Compose(*maps)(x), strict=True):
        torch.testing.assert_close(got, want)
    z = stack(x)[0]
    for got, want in zip(stack.inverse(z), T.Compose(*maps).inverse(z), strict=True):
        torch.testing.assert_close(got, want)
