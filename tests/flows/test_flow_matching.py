"""Flow matching: the conditional velocities are the time derivatives of their paths, the
minibatch OT pairing is optimal, the field takes one time per row, the regression (not
the NLL) is what a plain or dequantized flow-matching model trains on, and bad options
are one line."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import bijective as bj
from bijective.flows.flow_matching import conditional_path, paired
from bijective.objectives import training_loss


@pytest.mark.parametrize("path", ["ot", "vp"])
def test_the_velocity_is_the_time_derivative_of_the_path(path: str) -> None:
    torch.manual_seed(0)
    x, noise = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    t = torch.rand(5, 1, dtype=torch.float64) * 0.9 + 0.05
    _, velocity = conditional_path(path, x, noise, t)
    derivative = torch.func.jacfwd(lambda s: conditional_path(path, x, noise, s)[0])(t)
    torch.testing.assert_close(velocity, derivative.sum((-2, -1)))
    start, _ = conditional_path(path, x, noise, torch.zeros(5, 1, dtype=torch.float64))
    torch.testing.assert_close(start, x)  # data at t = 0


def test_the_minibatch_pairing_is_the_optimal_assignment() -> None:
    torch.manual_seed(1)
    x, noise = torch.randn(6, 2), torch.randn(6, 2)
    cost = torch.cdist(x, noise).square()
    best = min(itertools.permutations(range(6)), key=lambda p: float(cost[range(6), list(p)].sum()))
    assert paired(x, noise).tolist() == list(best)


def test_the_field_takes_one_time_per_row() -> None:
    torch.manual_seed(2)
    net = bj.nn.ODENet(3, (8,), context=2).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x, c = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    t = torch.rand(4, 1, dtype=torch.float64)
    rows = torch.cat([net(x[i : i + 1], t[i], c[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(net(x, t, c), rows)


@pytest.mark.parametrize("coupling", ["independent", "ot"])
def test_training_regresses_instead_of_solving_the_ode(coupling: str) -> None:
    torch.manual_seed(3)
    flow = bj.flows.FlowMatching(2, hidden=(16, 16), path="vp", coupling=coupling)
    x = torch.randn(32, 2) * 0.5 + 1.0
    loss = training_loss(flow, x)
    loss.backward()
    assert flow.transform.evaluations == 0  # no ODE was solved
    assert all(p.grad is not None for p in flow.parameters())


def test_a_dequantized_flow_matching_model_trains_by_the_regression() -> None:
    torch.manual_seed(4)
    model = bj.flows.dequantized(bj.flows.FlowMatching(4, hidden=(8,)), levels=17)
    x = torch.randint(0, 17, (16, 4)).float()
    loss = training_loss(model, x)
    loss.backward()
    cnf = model.flow.transform.transforms[-1]
    assert cnf.evaluations == 0 and torch.isfinite(loss)
    logit_scale = model.flow.transform.transforms[1]  # ActNorm: fixed under the regression
    assert all(p.grad is None for p in logit_scale.parameters())
    assert model.eval().log_prob(x).shape == (16,)  # the exact bound, by the ODE


def test_bad_options_get_one_line() -> None:
    with pytest.raises(ValueError, match="expected path 'ot' or 'vp'; got 'cosine'"):
        bj.flows.FlowMatching(2, path="cosine")
    with pytest.raises(ValueError, match="expected coupling 'independent' or 'ot'; got 'sinkhorn'"):
        bj.flows.FlowMatching(2, coupling="sinkhorn")


def test_hutchinson_in_evaluation_is_an_unbiased_estimate_of_the_exact_log_prob() -> None:
    torch.manual_seed(0)
    exact = bj.flows.FlowMatching(3, hidden=(16,), rtol=1e-6, atol=1e-6).double().eval()
    for p in exact.parameters():  # a field with a trace that varies (not the identity)
        p.data.add_(0.3 * torch.randn_like(p))
    estimated = (
        bj.flows.FlowMatching(3, hidden=(16,), rtol=1e-6, atol=1e-6, eval_trace="hutchinson")
        .double()
        .eval()
    )
    estimated.load_state_dict(exact.state_dict())
    x = torch.randn(1, 3, dtype=torch.float64).expand(2000, 3)
    with torch.no_grad():
        truth = exact.log_prob(x[:1])
        draws = estimated.log_prob(x)
    assert draws.std() > 1e-3  # an estimate, not the exact value
    assert abs(float(draws.mean() - truth)) < 4 * float(draws.std()) / math.sqrt(len(draws))


def test_the_unet_field_starts_at_zero_and_takes_one_time_per_row() -> None:
    torch.manual_seed(0)
    f = bj.nn.UNet((2, 4, 4), channels=8, levels=2, context=3)
    x, c = torch.randn(5, 32), torch.eye(3)[[0, 1, 2, 0, 1]]
    assert torch.equal(f(x, torch.rand(5, 1), c), torch.zeros(5, 32))  # zero last layer
    for p in f.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    t = torch.rand(5, 1)
    rows = torch.cat([f(x[i : i + 1], t[i : i + 1], c[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(f(x, t, c), rows, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(f(x, t, c), f(x, t.flip(0), c))  # the time is read
    assert not torch.allclose(f(x, t, c), f(x, t, c.flip(0)))  # and the context
    with pytest.raises(ValueError, match="divide by 2"):
        bj.nn.UNet((1, 6, 6), levels=3)
    with pytest.raises(ValueError, match="one value per normalisation group"):
        bj.nn.UNet((1, 2, 2), channels=4, levels=2)  # GroupNorm over a single value


def test_image_flow_matching_regresses_without_the_ode_and_inverts_by_it() -> None:
    torch.manual_seed(0)
    flow = bj.flows.ImageFlowMatching(
        (1, 4, 4), channels=8, levels=2, rtol=1e-7, atol=1e-7, eval_trace="hutchinson"
    )  # the round trip is checked here; the exact trace is ContinuousFlow's, tested there
    data = torch.randn(64, 1, 4, 4) * 0.3 + torch.linspace(-1, 1, 16).view(1, 1, 4, 4)
    optimizer = torch.optim.Adam(flow.parameters(), lr=3e-3)
    cnf = flow.transform.transforms[1]
    first = None
    for _ in range(60):
        loss = flow.training_loss(data)
        first = float(loss) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert cnf.dynamics.evaluations == 0 and float(loss) < 0.8 * first
    flow.eval().double()  # float64: the solves' error is the tolerance's, not float32's
    x = data[:2].double()
    with torch.no_grad():
        z, ladj = flow.transform(x)
        back, _ = flow.transform.inverse(z)
    assert z.shape == (2, 16) and ladj.isfinite().all()
    torch.testing.assert_close(back, x, atol=1e-4, rtol=0)
    dequantized = bj.flows.dequantized(bj.flows.ImageFlowMatching((1, 4, 4), channels=8), 4)
    pixels = torch.randint(0, 4, (8, 1, 4, 4)).float()
    assert training_loss(dequantized, pixels).isfinite()  # through the logit, then Flatten


def test_image_flow_matching_logdet_is_the_autograd_jacobian_of_its_flow_map() -> None:
    """The log-det ImageFlowMatching's log_prob adds, accumulated by the exact trace of the
    U-Net field, against slogdet of the autograd Jacobian of the flow map x -> x(T) solved
    on its own (no trace in the state), in float64 with random parameters. (The transform
    harness's generic case, autograd through the traced solve, takes minutes.)"""
    torchdiffeq = pytest.importorskip("torchdiffeq")
    torch.manual_seed(0)
    tight = {"rtol": 1e-10, "atol": 1e-10}
    flow = bj.flows.ImageFlowMatching((1, 4, 4), channels=4, levels=2, **tight).double()
    for p in flow.parameters():
        p.data.add_(0.2 * torch.randn_like(p))
    flow.eval()
    cnf = flow.transform.transforms[1]
    times = torch.tensor([0.0, cnf.time], dtype=torch.float64)

    def flow_map(v: torch.Tensor) -> torch.Tensor:
        return torchdiffeq.odeint(lambda t, y: cnf.dynamics.net(y, t), v, times, **tight)[-1]

    x = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    with torch.no_grad():  # the traced solve without a graph: seconds, not minutes
        z, ladj = flow.transform(x)
    torch.testing.assert_close(flow_map(x.reshape(2, 16)), z, atol=1e-8, rtol=0)
    for i in range(2):
        jacobian = torch.autograd.functional.jacobian(flow_map, x[i].reshape(16))
        expected = torch.linalg.slogdet(jacobian).logabsdet
        torch.testing.assert_close(ladj[i], expected, atol=1e-7, rtol=0)
    assert ladj.abs().min() > 0.05  # far from the identity's 0
