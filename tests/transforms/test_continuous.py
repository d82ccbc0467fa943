"""Continuous flows (FFJORD): the Hutchinson trace is unbiased, the adjoint method gives
the gradients of backpropagation through the solver, RNODE's penalties are the integrals
they claim, and a solve over its step budget names the options that change it."""

from __future__ import annotations

import sys

import pytest
import torch

import bijective as bj

T = bj.transforms
TIGHT = {"rtol": 1e-9, "atol": 1e-9}


def cnf(features: int = 3, **options) -> T.ContinuousFlow:
    torch.manual_seed(0)
    t = T.ContinuousFlow(features, (16, 16), **(TIGHT | options)).double()
    with torch.no_grad():
        for p in t.parameters():
            p.add_(0.4 * torch.randn_like(p))
    return t.eval()


def test_hutchinson_trace_is_unbiased_for_the_exact_log_det() -> None:
    t = cnf()
    x = torch.randn(1, 3, dtype=torch.float64)
    with torch.no_grad():
        exact = float(t(x)[1])
        t.train()  # the Hutchinson trace; every row of the batch draws its own noise
        torch.manual_seed(1)
        estimates = t(x.expand(4000, 3))[1]
    mean, se = float(estimates.mean()), float(estimates.std() / len(estimates) ** 0.5)
    assert se > 0 and abs(mean - exact) < 3 * se, (mean, se, exact)


def test_adjoint_gradients_equal_backpropagation_through_the_solver() -> None:
    grads = []
    for adjoint in (False, True):
        t = cnf(adjoint=adjoint, context=0)
        x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
        z, ladj = t(x)
        loss = (z.square().sum(-1) - ladj).sum()
        grads.append(torch.autograd.grad(loss, [x, *t.parameters()]))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_kinetic_penalty_is_the_integral_of_the_squared_speed() -> None:
    t = cnf(2, kinetic=0.5, jacobian=0.0).train()
    x = torch.randn(4, 2, dtype=torch.float64)
    t(x)
    penalty = float(t.penalty.detach())
    # The same integral by the trapezoid rule on the solved path x(t).
    import torchdiffeq

    times = torch.linspace(0, 1, 2001, dtype=torch.float64)
    net = t.dynamics.net
    with torch.no_grad():
        path = torchdiffeq.odeint(lambda s, y: net(y, s), x, times, **TIGHT)
        speed = torch.stack([net(p, s).square().sum(-1) for p, s in zip(path, times, strict=True)])
    expected = 0.5 * float(torch.trapezoid(speed, times, dim=0).mean())
    assert abs(penalty - expected) < 1e-6 * (1 + expected)
    total = bj.objectives.penalty(t)
    assert float(total.detach()) == pytest.approx(penalty)
    assert t.penalty is None  # summed, then cleared
    t.eval()
    t(x)
    assert t.penalty is None  # no regulariser in eval mode


def test_the_penalty_reaches_the_training_loss() -> None:
    flow = bj.flows.FFJORD(2, hidden=(8,), kinetic=1.0, jacobian=1.0, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.5 * torch.randn_like(p))
    x = torch.randn(16, 2)
    nll = bj.objectives.nll(flow, x)
    penalty = bj.objectives.penalty(flow)
    assert isinstance(penalty, torch.Tensor) and float(penalty.detach()) > 0
    penalty.backward()
    assert flow.transform[0].dynamics.net.layers[0].linear.weight.grad.abs().sum() > 0
    assert nll.isfinite()


def test_an_ode_solve_over_its_step_budget_names_the_options() -> None:
    t = cnf(max_steps=3)
    with pytest.raises(bj.ConvergenceError, match="max_steps .*rtol/atol"):
        t(torch.randn(5, 3, dtype=torch.float64))


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        T.ContinuousFlow(2, method="rk4")
    with pytest.raises(ValueError, match="trace"):
        T.ContinuousFlow(2, trace="frobenius")
    with pytest.raises(ValueError, match="rtol"):
        T.ContinuousFlow(2, rtol=0)


def test_empty_batch() -> None:
    t = cnf()
    for fn in (t, t.inverse):
        out, ladj = fn(torch.zeros(0, 3, dtype=torch.float64))
        assert out.shape == (0, 3) and ladj.shape == (0,)


def test_without_torchdiffeq_the_error_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchdiffeq", None)
    with pytest.raises(ImportError, match="pip install torchdiffeq"):
        cnf()(torch.randn(2, 3, dtype=torch.float64))


def test_ffjord_learns_two_moons() -> None:
    torch.manual_seed(0)
    x = bj.data.toy.moons(2000, noise=0.05)[0]
    x = (x - x.mean(0)) / x.std(0)
    flow = bj.flows.FFJORD(2, hidden=(32, 32), rtol=1e-3, atol=1e-3)
    opt = torch.optim.Adam(flow.parameters(), 1e-2)
    start = float(bj.objectives.mean_nll(flow, x[:500]))
    for _ in range(150):
        loss = bj.objectives.nll(flow, x[torch.randint(len(x), (256,))])
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = float(bj.objectives.mean_nll(flow, x[:500]))
    assert end < start - 0.8, (start, end)


def test_sampling_integrates_x_alone_and_gives_the_traced_inverse(monkeypatch) -> None:
    """Flow.sample, rsample, encode and decode discard the log-det: the solve then carries
    x alone (no trace computed, so a D-dimensional sample is not D backward passes a
    step) and x is the traced inverse's, to the solver's tolerance."""
    t = cnf(context=2)
    flow = bj.Flow(t, bj.distributions.StandardNormal(3)).double().eval()
    z, c = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    with torch.no_grad():
        x, ladj = t.inverse(z, c)
    assert ladj.abs().min() > 1e-3
    monkeypatch.setattr(bj.transforms.continuous, "exact_trace", None)  # called: TypeError
    monkeypatch.setattr(bj.transforms.continuous, "dot", None)
    torch.testing.assert_close(flow.decode(z, c), x, atol=1e-7, rtol=0)
    torch.testing.assert_close(flow.encode(x, c), z, atol=1e-7, rtol=0)
    rows = flow.rsample((), c)
    assert rows.shape == (6, 3) and rows.requires_grad  # gradients still reach the field
    rows.sum().backward()
    assert all(p.grad is not None for p in t.parameters())
    with pytest.raises(TypeError):  # the log-density still needs the trace
        flow.log_prob(x, c)
