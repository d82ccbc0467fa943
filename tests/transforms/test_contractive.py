"""Contractive residual blocks: the log-det estimators against the exact log-det (unbiased
within 3 standard errors), the Neumann-series gradient, implicit gradients through the
fixed-point inverse, and the errors for a bad setting or a solve that does not converge."""

from __future__ import annotations

import pytest
import torch

import bijective as bj
from bijective.transforms.jacobians import (
    exact_logdet,
    jacobian,
    rademacher,
    roulette_logdet,
    series_logdet,
)

T = bj.transforms


def block(features: int = 4, coeff: float = 0.9, **options) -> T.InvertibleResidual:
    """A block with random weights, in float64, eval mode: tanh (slope 1 at 0) and zero
    biases keep J_g near its bound, so the log-det is far from 0 and the series from
    its first terms."""
    torch.manual_seed(0)
    t = T.InvertibleResidual(features, (16,), coeff=coeff, activation="tanh", **options)
    t = t.double()
    with torch.no_grad():
        for layer in t.net.layers:
            layer.weight.copy_(torch.randn_like(layer.weight))
            layer.bias.zero_()
    return t.eval()


def converge(t: T.InvertibleResidual) -> T.InvertibleResidual:
    """Training mode, its power iterations run until they track the new weights."""
    t.train()
    with torch.no_grad():
        for _ in range(200):
            t.net.weights()
    return t


def g_at(t: T.InvertibleResidual, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_()
    return t.net(x), x


def mean_and_se(values: torch.Tensor) -> tuple[float, float]:
    return float(values.mean()), float(values.std() / len(values) ** 0.5)


def test_the_series_is_the_log_det_and_its_hutchinson_estimate_is_unbiased() -> None:
    t = block()
    x = torch.randn(1, 4, dtype=torch.float64)
    g, leaf = g_at(t, x)
    j = jacobian(g, leaf, graph=False)[0]
    exact = float(exact_logdet(g, leaf, graph=False))
    powers = [torch.linalg.matrix_power(j, k) for k in range(1, 61)]
    series = lambda n: sum((-1) ** (k + 1) * powers[k - 1].trace() / k for k in range(1, n + 1))  # noqa: E731
    assert abs(float(series(60)) - exact) < 1e-10  # Lip < 1: the series converges to log det
    assert abs(float(series(1)) - exact) > 1e-2  # ... and truncation is a real bias
    xs = x.expand(20000, 4)
    g, leaf = g_at(t, xs)
    estimates = series_logdet(g, leaf, rademacher(leaf), 2, graph=False)
    mean, se = mean_and_se(estimates)
    assert se > 0 and abs(mean - float(series(2))) < 3 * se


def test_roulette_estimate_is_unbiased_for_the_exact_log_det() -> None:
    t = block()
    x = torch.randn(1, 4, dtype=torch.float64)
    g, leaf = g_at(t, x)
    exact = float(exact_logdet(g, leaf, graph=False))
    torch.manual_seed(3)
    xs = x.expand(500, 4)
    g, leaf = g_at(t, xs)
    # Each call draws its own number of terms; every row its own noise.
    estimates = torch.cat(
        [roulette_logdet(g, leaf, rademacher(leaf), 1, 0.5, graph=False) for _ in range(60)]
    )
    mean, se = mean_and_se(estimates)
    assert se > 0 and abs(mean - exact) < 3 * se, (mean, se, exact)


def test_neumann_gradient_is_unbiased_for_the_gradient_of_the_log_det() -> None:
    t = block(3)
    x = torch.randn(1, 3, dtype=torch.float64)
    params = list(t.net.parameters())
    direction = [torch.randn_like(p) for p in params]  # a fixed random projection

    def projected(ladj: torch.Tensor) -> float:
        grads = torch.autograd.grad(ladj.sum(), params, allow_unused=True)
        return sum(
            float((g * d).sum()) for g, d in zip(grads, direction, strict=True) if g is not None
        )

    g, leaf = g_at(t, x)
    exact = projected(exact_logdet(g, leaf, graph=True))
    torch.manual_seed(4)
    estimates = []
    for _ in range(1500):
        g, leaf = g_at(t, x)
        estimates.append(projected(roulette_logdet(g, leaf, rademacher(leaf), 1, 0.5, True)))
    mean, se = mean_and_se(torch.tensor(estimates))
    assert se > 0 and abs(mean - exact) < 3 * se, (mean, se, exact)


@pytest.mark.parametrize("logdet", ["roulette", "series"])
def test_training_mode_estimates_and_eval_mode_is_exact(logdet: str) -> None:
    t = block(logdet=logdet, terms=3)
    x = torch.randn(6, 4, dtype=torch.float64)
    with torch.no_grad():
        exact = t(x)[1]
        torch.testing.assert_close(t(x)[1], exact, rtol=0, atol=0)  # deterministic
        converge(t)
        torch.manual_seed(5)
        estimates = torch.stack([t(x)[1] for _ in range(400)])
    assert (estimates.std(0) > 0).all()  # random noise (and, for roulette, terms)
    if logdet == "roulette":  # unbiased, row by row
        se = estimates.std(0) / len(estimates) ** 0.5
        assert ((estimates.mean(0) - exact).abs() < 3 * se).all()


def test_implicit_gradient_of_the_inverse_equals_unrolled_iterations() -> None:
    t = block(context=0)
    z = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    params = [z, *t.parameters()]
    x, ladj = t.inverse(z)
    loss = lambda x, ladj: x.sin().sum() + ladj.sum()  # noqa: E731
    implicit = torch.autograd.grad(loss(x, ladj), params, allow_unused=True)
    weights = t.net.weights()
    a = z
    for _ in range(400):  # backpropagate through the iteration itself
        a = z - t.net(a, None, weights)
    reference = torch.autograd.grad(loss(a, -t(a)[1]), params, allow_unused=True)
    for got, want in zip(implicit, reference, strict=True):
        if want is not None:
            torch.testing.assert_close(got, want, atol=1e-9, rtol=1e-7)


def test_inverse_in_training_mode_round_trips() -> None:
    t = converge(block())
    x = torch.randn(8, 4, dtype=torch.float64)
    with torch.no_grad():
        z, _ = t(x)
        x2, _ = t.inverse(z)
    torch.testing.assert_close(x2, x, atol=1e-8, rtol=1e-8)


def test_a_lipschitz_coefficient_of_1_or_more_is_refused() -> None:
    for coeff in (1.0, 1.5, 0.0, float("nan")):
        with pytest.raises(ValueError, match="0 < coeff < 1"):
            T.InvertibleResidual(2, coeff=coeff)
    with pytest.raises(ValueError, match="logdet"):
        T.InvertibleResidual(2, logdet="trace")


def test_a_fixed_point_inverse_that_does_not_converge_names_the_options() -> None:
    t = block(max_iterations=2)
    z = 3 * torch.randn(4, 4, dtype=torch.float64)
    with pytest.raises(bj.ConvergenceError, match="max_iterations .*coeff"):
        t.inverse(z)


def test_a_fixed_point_iteration_stops_at_its_rounding_floor() -> None:
    """A contraction evaluated with errors of 1e-5 cannot get closer than that: the
    iteration stops there instead of failing for a tolerance it cannot reach, and an
    iteration that stalls far from a fixed point (not a contraction) still fails."""
    g = torch.Generator().manual_seed(0)
    z = 3 * torch.randn(64, 2, generator=g)
    noisy = lambda a: 0.5 * a + z + 1e-5 * torch.randn(a.shape, generator=g)  # noqa: E731
    a = bj.transforms.roots.fixed_point(noisy, torch.zeros_like(z), 1e-9, 1000, "noisy")
    assert (a - 2 * z).abs().max() < 1e-4
    with pytest.raises(bj.ConvergenceError, match="flip: .*did not converge"):
        bj.transforms.roots.fixed_point(lambda a: 1 - a, torch.zeros_like(z), 1e-6, 1000, "flip")
    # An expanding map overflows: infinity is refused, not returned as converged.
    with pytest.raises(bj.ConvergenceError, match="grow: .*non-finite"):
        bj.transforms.roots.fixed_point(lambda a: 2 * a + 1, 0 * z, 1e-6, 1000, "grow")


def test_empty_batch() -> None:
    t = block()
    for fn in (t, t.inverse):
        out, ladj = fn(torch.zeros(0, 4, dtype=torch.float64))
        assert out.shape == (0, 4) and ladj.shape == (0,)


def test_residual_flow_learns_two_moons() -> None:
    torch.manual_seed(0)
    x = bj.data.toy.moons(2000, noise=0.05)[0]
    x = (x - x.mean(0)) / x.std(0)
    flow = bj.flows.ResidualFlow(2, blocks=4, hidden=(32, 32))
    opt = torch.optim.Adam(flow.parameters(), 1e-2)
    start = float(bj.objectives.mean_nll(flow, x))
    for _ in range(300):
        loss = bj.objectives.nll(flow, x[torch.randint(len(x), (256,))])
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = float(bj.objectives.mean_nll(flow, x))
    assert end < start - 0.5, (start, end)
    samples = flow.sample((500,))
    assert samples.isfinite().all() and samples.std(0).min() > 0.3


def test_sampling_skips_the_log_det_and_gives_the_same_x(monkeypatch) -> None:
    """Where the log-det is discarded (Flow.sample, encode, decode) a block computes g
    alone: the same x and z, no Jacobian products."""
    t = block()
    flow = bj.Flow(t, bj.distributions.StandardNormal(4)).double().eval()
    z = torch.randn(7, 4, dtype=torch.float64)
    with torch.no_grad():
        x, ladj = t.inverse(z)
    assert ladj.abs().min() > 1e-3

    def refuse(*args, **kwargs):
        raise AssertionError("the log-det was computed")

    monkeypatch.setattr(t, "_g_and_ladj", refuse)
    torch.testing.assert_close(flow.decode(z), x)
    torch.testing.assert_close(flow.encode(x), z, atol=1e-8, rtol=0)
    assert flow.rsample((3,)).requires_grad
    with pytest.raises(AssertionError, match="the log-det was computed"):
        flow.log_prob(x)
