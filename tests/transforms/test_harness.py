"""The core harness: every registered transform, in float64 (or --dtype, on --device: see
tests/conftest.py), with random parameters."""

from __future__ import annotations

import math
import warnings

import pytest
import registry
import torch
from registry import CASES, Case, ids, make

import bijective as bj

BATCHES = [(), (5,), (2, 3)]
TOL = registry.TOLERANCE[registry.DTYPE]  # 1e-6 in float64


def independent_logdet(
    fn, x: torch.Tensor, context: torch.Tensor | None, event: tuple
) -> torch.Tensor:
    """log|det| of the Jacobian of one sample at a time, by torch.autograd.functional.jacobian
    (a different code path from bj.check's)."""
    d = math.prod(event)
    flat_x = x.reshape(-1, *event)
    flat_c = None if context is None else context.reshape(-1, context.shape[-1])
    out = []
    for i in range(flat_x.shape[0]):
        c = None if flat_c is None else flat_c[i : i + 1]
        jac = torch.autograd.functional.jacobian(lambda v, c=c: fn(v[None], c)[0][0], flat_x[i])
        out.append(torch.linalg.slogdet(jac.reshape(d, d)).logabsdet)
    return torch.stack(out).reshape(x.shape[: x.dim() - len(event)])


def latent_of(case: Case, x: torch.Tensor) -> tuple[int, ...]:
    """The shape of z = f(x): x's batch shape and the case's latent event shape."""
    return (*x.shape[: x.dim() - len(case.shape)], *(case.latent_shape or case.shape))


@pytest.mark.parametrize("batch", BATCHES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_inverse_both_ways(case: Case, batch: tuple) -> None:
    t, x, c = make(case, batch)
    z, ladj = t(x, c)
    x2, ladj_inv = t.inverse(z, c)
    assert z.shape == latent_of(case, x) and ladj.shape == batch and ladj_inv.shape == batch
    torch.testing.assert_close(x2, x, atol=TOL, rtol=TOL)
    g = torch.Generator().manual_seed(1)
    z = case.latent(latent_of(case, x), g).to(x)
    x, ladj_inv = t.inverse(z, c)
    z2, ladj = t(x, c)
    torch.testing.assert_close(z2, z, atol=TOL, rtol=TOL)
    torch.testing.assert_close(ladj, -ladj_inv, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_logdet_matches_autograd_jacobian(case: Case) -> None:
    t, x, c = make(case, (4,), seed=2)
    _, ladj = t(x, c)
    torch.testing.assert_close(ladj, independent_logdet(t, x, c, case.shape), atol=TOL, rtol=TOL)
    z = case.latent(latent_of(case, x), torch.Generator().manual_seed(3)).to(x)
    _, ladj_inv = t.inverse(z, c)
    expected = independent_logdet(t.inverse, z, c, case.latent_shape or case.shape)
    torch.testing.assert_close(ladj_inv, expected, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_randomised_transform_is_not_the_identity(case: Case) -> None:
    """The checks above run away from the identity initialisation: z differs from x."""
    t, x, c = make(case, (6,), seed=4)
    z, _ = t(x, c)
    assert z.shape != x.shape or not torch.allclose(z, x)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bj_check_passes(case: Case) -> None:
    t, x, c = make(case, (5,), seed=5)
    report = bj.check(t, x, c)
    assert report.inverse_error < TOL and report.logdet_error < TOL


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_gradients_reach_every_parameter(case: Case) -> None:
    t, x, c = make(case, (8,), seed=6)
    if not list(t.parameters()):
        pytest.skip(f"{case.name} has no parameters")
    z, ladj = t(x, c)
    x2, ladj_inv = t.inverse(
        case.latent(latent_of(case, x), torch.Generator().manual_seed(7)).to(x), c
    )
    for direction, loss in [
        ("forward", z.flatten(1).square().sum(1) - ladj),
        ("inverse", x2.flatten(1).sin().sum(1) + ladj_inv),
    ]:
        t.zero_grad()
        loss.sum().backward(retain_graph=True)
        for name, p in t.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (
                f"{direction}: none reaches {name}"
            )


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_state_dict_round_trip(case: Case) -> None:
    t, x, c = make(case, (5,), seed=7)
    torch.manual_seed(123)  # a different random initialisation
    fresh = case.build().to(registry.DEVICE, registry.DTYPE).eval()
    fresh.load_state_dict(t.state_dict())
    for a, b in zip(t(x, c), fresh(x, c), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    z = case.latent(latent_of(case, x), torch.Generator().manual_seed(8)).to(x)
    for a, b in zip(t.inverse(z, c), fresh.inverse(z, c), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("case", [c for c in CASES if c.train_eval_agree], ids=str)
def test_train_and_eval_agree(case: Case) -> None:
    t, x, c = make(case, (5,), seed=9)
    eval_out = t(x, c)
    t.train()
    for a, b in zip(eval_out, t(x, c), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_float32_inverse(case: Case) -> None:
    """The same transforms in float32: the inverse holds to float32 accuracy."""
    t, x, c = make(case, (6,), seed=10)
    t, x = t.float(), x.float()
    c = None if c is None else c.float()
    z, ladj = t(x, c)
    x2, ladj_inv = t.inverse(z, c)
    assert x2.dtype == torch.float32
    torch.testing.assert_close(x2, x, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ladj_inv, -ladj, atol=1e-4, rtol=1e-4)


def integrate(flow: bj.Flow, dims: int, bounds: tuple[float, float], n: int) -> float:
    """The trapezoid rule on an n (1-D) or n x n (2-D) grid over bounds^dims."""
    grid = torch.linspace(*bounds, n, dtype=registry.DTYPE, device=registry.DEVICE)
    with warnings.catch_warnings():  # the box reaches outside some transforms' domain
        warnings.simplefilter("ignore", RuntimeWarning)
        log_p = flow.log_prob(grid[:, None] if dims == 1 else torch.cartesian_prod(grid, grid))
    if dims == 1:
        return float(torch.trapezoid(log_p.exp(), grid))
    density = log_p.exp().reshape(n, n)
    return float(torch.trapezoid(torch.trapezoid(density, grid, dim=1), grid))


LOW_DIM = [c for c in CASES if c.shape in ((1,), (2,)) and not c.context]


@pytest.mark.parametrize("case", LOW_DIM, ids=ids(LOW_DIM))
def test_density_integrates_to_one(case: Case) -> None:
    t, _, _ = make(case, seed=11)
    base = case.base() if case.base else bj.distributions.StandardNormal(case.shape)
    flow = bj.Flow(t, base.to(registry.DEVICE, registry.DTYPE))
    dims = case.shape[0]
    with torch.no_grad():
        total = integrate(flow, dims, case.bounds, 200_000 if dims == 1 else case.grid)
    assert abs(total - 1) < 1e-3, f"integral {total}"


def _state(t: bj.transforms.Transform) -> dict:
    return {k: v.clone() for k, v in t.state_dict().items()}


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_an_empty_batch_gives_empty_outputs_and_leaves_the_state(case: Case, mode: str) -> None:
    """Zero rows in, zero rows out, both ways, in training and evaluation mode; running
    statistics, data-dependent initialisation and every other buffer stay as they were."""
    t, x, c = make(case, (0,), seed=11)
    t.train(mode == "train")
    before = _state(t)
    z, ladj = t(x, c)
    assert z.shape == latent_of(case, x) and ladj.shape == (0,)
    x2, ladj_inv = t.inverse(case.latent(latent_of(case, x), torch.Generator()).to(x), c)
    assert x2.shape == x.shape and ladj_inv.shape == (0,)
    for key, value in _state(t).items():
        torch.testing.assert_close(value, before[key], atol=0, rtol=0, equal_nan=False)
