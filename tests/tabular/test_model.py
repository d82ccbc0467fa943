"""The tabular model's exactness: its density sums and integrates to 1 over categories,
missing patterns, counts and values (bounded, angles, heavy tails), its samples follow
it, and bad rows are one error naming the column."""

import math

import pytest
import torch

import bijective as bj
from bijective.data.schema import ColumnSpec, Schema
from bijective.tabular import Tabular


def model_of(*specs: ColumnSpec, seed: int = 0, categorical: str = "made") -> Tabular:
    """A float64 model with random parameters (the zero-initialised last layers too)."""
    torch.manual_seed(seed)
    model = Tabular(
        Schema(specs).to_dict(),
        hidden=(16, 16),
        categorical=categorical,
        categorical_hidden=(8,),
        bins=4,
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.15 * torch.randn_like(p))
    return model.double().eval()


def trapezoid(log_p: torch.Tensor, t: torch.Tensor) -> float:
    """The integral over y = sinh(t) (dy = cosh(t) dt) of p: reaches |y| ~ e^|t| / 2."""
    return float(torch.trapezoid(log_p.detach().exp() * torch.cosh(t), t))


def wide(points: int = 6001) -> tuple[torch.Tensor, torch.Tensor]:
    """t and y = sinh(t) for t in [-12, 12]."""
    t = torch.linspace(-12, 12, points, dtype=torch.float64)
    return t, torch.sinh(t)


@pytest.mark.parametrize("categorical", ["made", "transformer"])
def test_the_joint_density_of_categories_counts_values_and_missing_entries_sums_to_one(
    categorical,
):
    model = model_of(
        ColumnSpec("kind", "categorical", categories=("a", "b"), missing=True),
        ColumnSpec("n", "count", lower=0.0, missing=True, shift=1.0, scale=0.7),
        ColumnSpec("y", "continuous", missing=True, shift=0.5, scale=2.0),
        categorical=categorical,
    )
    t, grid = wide()
    counts = torch.arange(0, 400, dtype=torch.float64)
    total = 0.0
    for kind in (0.0, 1.0, math.nan):
        for n in [math.nan, *counts.tolist()]:
            rows = torch.tensor([[kind, n, math.nan]], dtype=torch.float64)
            total += float(model.log_prob(rows).detach().exp())
            values = torch.stack([torch.full_like(grid, kind), torch.full_like(grid, n), grid], 1)
            total += trapezoid(model.log_prob(values), t)
    assert total == pytest.approx(1.0, abs=2e-4)


SUBSTITUTIONS = {  # y(t) and dy/dt, reaching far into every tail for t in [-150, 150]
    "positive": (lambda t: t.exp(), lambda t: t.exp()),
    "interval": (
        lambda t: -1 + 3 * torch.sigmoid(t),
        lambda t: 3 * torch.sigmoid(t) * torch.sigmoid(-t),
    ),
    "upper": (lambda t: 3 - t.exp(), lambda t: t.exp()),
    "angle": (
        lambda t: 360 * torch.sigmoid(t),
        lambda t: 360 * torch.sigmoid(t) * torch.sigmoid(-t),
    ),
    "heavy": (lambda t: torch.sinh(t / 8), lambda t: torch.cosh(t / 8) / 8),
}


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("positive", ColumnSpec("p", "continuous", lower=0.0, shift=0.3, scale=0.8)),
        ("interval", ColumnSpec("u", "continuous", lower=-1.0, upper=2.0, shift=0.2, scale=1.5)),
        ("upper", ColumnSpec("w", "continuous", upper=3.0, scale=0.5)),
        ("angle", ColumnSpec("angle", "continuous", period=360.0)),
        ("heavy", ColumnSpec("t", "continuous", heavy_tails=True, scale=0.5)),
    ],
)
def test_a_bounded_angular_or_heavy_tailed_column_integrates_to_one(name, spec):
    """After a categorical column, so the spline parameters vary with the condition; the
    integral over t of p(y(t)) dy/dt, y(t) mapping the real line onto the support."""
    model = model_of(ColumnSpec("c", "categorical", categories=("a", "b", "c")), spec)
    to_y, jacobian = SUBSTITUTIONS[name]
    t = torch.linspace(-150, 150, 60_001, dtype=torch.float64)
    y = to_y(t)
    total = 0.0
    for c in range(3):
        rows = torch.stack([torch.full_like(y, c), y], 1)
        density = model.log_prob(rows).detach().exp()
        total += float(torch.trapezoid(torch.nan_to_num(density * jacobian(t)), t))
    assert total == pytest.approx(1.0, abs=2e-4)
    if spec.heavy_tails:  # heavier tails than a normal's: log p falls like -(nu + 1) log|y|
        far = torch.tensor([[0.0, 1e3], [0.0, 1e4]], dtype=torch.float64)
        log_p = model.log_prob(far).detach()
        assert -(log_p[1] - log_p[0]) / math.log(10) < float(model.degrees().detach()) + 2


def test_a_value_outside_its_support_has_log_density_minus_infinity_not_nan():
    model = model_of(
        ColumnSpec("p", "continuous", lower=0.0),
        ColumnSpec("n", "count", lower=0.0),
        ColumnSpec("u", "continuous", lower=0.0, upper=1.0),
    )
    rows = torch.tensor(
        [[0.0, 1.0, 0.5], [-1.0, 1.0, 0.5], [1.0, -1.0, 0.5], [1.0, 1.0, 1.0], [1.0, 0.0, 0.5]],
        dtype=torch.float64,
    )
    log_p = model.log_prob(rows)
    assert log_p[:4].eq(-math.inf).all() and log_p[4].isfinite()
    model.train()
    loss = -model.log_prob(rows[4:]).mean()
    loss.backward()
    assert all(p.grad is None or p.grad.isfinite().all() for p in model.parameters())


def test_samples_follow_the_density():
    """Chi-square of 20,000 samples against the model's own probabilities: the category
    with missing, the count's values, and the continuous column's deciles."""
    model = model_of(
        ColumnSpec("c", "categorical", categories=("a", "b"), missing=True),
        ColumnSpec("n", "count", lower=0.0, shift=0.5, scale=0.6),
        ColumnSpec("y", "continuous", heavy_tails=True),
        seed=3,
    )
    torch.manual_seed(1)
    x = model.sample((20_000,))
    assert x.shape == (20_000, 3)
    # the joint of (c, n) against exact P(c, n) = sum over y, by integrating y out
    t, grid = wide()
    observed, expected = [], []
    for c in (0.0, 1.0, math.nan):
        seen_c = x[:, 0].isnan() if math.isnan(c) else x[:, 0] == c
        for n in range(6):
            rows = torch.stack([torch.full_like(grid, c), torch.full_like(grid, n), grid], 1)
            expected.append(trapezoid(model.log_prob(rows), t))
            observed.append(float((seen_c & (x[:, 1] == n)).sum()))
    expected = torch.tensor(expected) * len(x)
    observed = torch.tensor(observed)
    keep = expected > 20
    chi2 = float(((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum())
    dof = int(keep.sum())
    assert dof >= 6 and chi2 < dof + 4 * math.sqrt(2 * dof)


def test_temperature_zero_like_draws_the_likeliest_category():
    model = model_of(ColumnSpec("c", "categorical", categories=("a", "b", "c")))
    probs = model.log_prob(torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)).exp()
    assert float(probs.sum()) == pytest.approx(1.0)
    x = model.sample((200,), temperature=1e-3)
    assert (x[:, 0] == probs.argmax()).all()


def test_bad_rows_are_one_error_naming_the_column():
    model = model_of(
        ColumnSpec("c", "categorical", categories=("a", "b")),
        ColumnSpec("n", "count", lower=0.0),
        ColumnSpec("y", "continuous"),
    )
    good = torch.tensor([[0.0, 2.0, 0.1]], dtype=torch.float64)
    assert model.log_prob(good).shape == (1,)
    assert model.log_prob(good.expand(2, 3, 3)).shape == (2, 3)
    assert model.log_prob(good[:0]).shape == (0,)
    cases = [
        (torch.tensor([[2.0, 2.0, 0.1]]), "'c' is categorical"),
        (torch.tensor([[0.0, 2.5, 0.1]]), "'n' holds counts"),
        (torch.tensor([[0.0, 2.0, math.nan]]), "'y' has NaN"),
        (torch.tensor([[0.0, 2.0, math.inf]]), "'y' holds an infinite"),
        (torch.tensor([[0.0, 2.0]]), "expected encoded rows"),
        (torch.tensor([[0, 2, 1]]), "floating-point"),
    ]
    for rows, message in cases:
        with pytest.raises(ValueError, match=message):
            model.log_prob(rows.double() if rows.is_floating_point() else rows)
    with pytest.raises(ValueError):
        model.log_prob(good, context=torch.zeros(1, 2))
    with pytest.raises(ValueError):
        model.sample((2,), temperature=0.0)


def test_parameters_all_get_gradients_and_the_model_saves_and_loads(tmp_path):
    model = model_of(
        ColumnSpec("c", "categorical", categories=("a", "b"), missing=True),
        ColumnSpec("n", "count", lower=0.0, missing=True),
        ColumnSpec("y", "continuous", heavy_tails=True),
        ColumnSpec("angle", "continuous", period=6.0),
    ).train()
    torch.manual_seed(0)
    rows = model.sample((64,))
    (-model.log_prob(rows).mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    bj.save(model.eval(), tmp_path / "m")
    again = bj.load(tmp_path / "m").double()
    assert torch.allclose(again.log_prob(rows), model.log_prob(rows))
