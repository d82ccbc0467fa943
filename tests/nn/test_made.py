"""MADE: the autoregressive property, proven on the Jacobian for every option."""

from __future__ import annotations

import pytest
import torch
from registry import randomise

import bijective as bj

OPTIONS = {
    "natural": dict(hidden=(16, 16)),
    "random-order": dict(hidden=(16, 16), order="random"),
    "given-order": dict(hidden=(12,), order=torch.tensor([3, 0, 4, 1, 2])),
    "deep": dict(hidden=(8, 8, 8, 8)),
    "narrow": dict(hidden=(3,)),  # fewer hidden units than features
    "residual": dict(hidden=(16, 16, 16), residual=True),
    "residual-random": dict(hidden=(16, 16), residual=True, order="random"),
    "context": dict(hidden=(16, 16), context=3),
    "context-residual": dict(hidden=(16, 16), context=2, residual=True, order="random"),
    "dropout": dict(hidden=(16, 16), residual=True, dropout=0.3),  # train mode: masks active
}


@pytest.mark.parametrize("activation", [torch.nn.ReLU, torch.nn.Tanh], ids=["relu", "tanh"])
@pytest.mark.parametrize("params", [1, 3])
@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_jacobian_is_strictly_triangular_under_the_ordering(
    name: str, params: int, activation
) -> None:
    options = dict(OPTIONS[name])
    features = 5
    # Dropout's masks come from the global generator: seeded, so the draw does not depend
    # on the tests run before (unseeded, about 1 draw in 75 drops every path of a feature).
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    net = randomise(
        bj.nn.MaskedMLP(features, params, activation=activation, generator=g, **options),
        replace=True,
    ).double()
    context = (
        torch.randn(net.context_features, dtype=torch.float64) if net.context_features else None
    )
    x = torch.randn(features, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: net(v, context), x)  # (D, params, D)
    rank = net.degrees  # position of each feature in the ordering, 1..D
    depends = jac.abs().sum(1) > 0  # output feature i depends on input j
    allowed = rank[None, :] < rank[:, None]
    assert not (depends & ~allowed).any(), "an output sees itself or a later feature"
    # Not vacuous: with a smooth activation and random weights every allowed connection is
    # used (ReLU may switch some paths off at this x; the narrowest network lacks a few).
    if activation is torch.nn.Tanh:
        assert depends[rank > 1].any(-1).all()
        if name not in ("narrow", "dropout"):  # dropped units may cut allowed paths
            assert torch.equal(depends, allowed)


def test_every_output_sees_the_context() -> None:
    # Tanh: with ReLU, the few units an early output reads could all be off at this point.
    g = torch.Generator().manual_seed(0)
    net = bj.nn.MaskedMLP(4, 2, (16,), 3, "random", activation=torch.nn.Tanh, generator=g)
    net = randomise(net, replace=True, generator=g).double()
    x = torch.randn(4, dtype=torch.float64, generator=g)
    c = torch.randn(3, dtype=torch.float64, generator=g)
    jac = torch.autograd.functional.jacobian(lambda v: net(x, v), c)  # (4, 2, 3)
    assert (jac.abs().sum(-1) > 0).all()


def test_starts_at_zero_and_rejects_bad_options() -> None:
    net = bj.nn.MaskedMLP(3, 2)
    assert torch.equal(net(torch.randn(7, 3)), torch.zeros(7, 3, 2))
    with pytest.raises(ValueError, match="permutation of 0..2"):
        bj.nn.MaskedMLP(3, 1, order=torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="equal hidden sizes"):
        bj.nn.MaskedMLP(3, 1, hidden=(8, 16), residual=True)
    with pytest.raises(ValueError, match="order 'natural', 'random'"):
        bj.nn.MaskedMLP(3, 1, order="reversed")
    with pytest.raises(ValueError, match="built with context=2; got no context"):
        bj.nn.MaskedMLP(3, 1, context=2)(torch.randn(3))


def test_masks_are_buffers_saved_with_the_model() -> None:
    net = bj.nn.MaskedMLP(4, 1, order="random")
    keys = net.state_dict().keys()
    assert "order" in keys and "first.mask" in keys and "last.mask" in keys


def _passes(net, z, context, step):
    """The reference inversion: D full passes, pass k fixing the k-th feature."""
    x = torch.zeros_like(z)
    for _ in range(net.features):
        x, values = step(z, net(x, context))
    return x, values


@pytest.mark.parametrize("grad", [False, True], ids=["no-grad", "grad"])
@pytest.mark.parametrize("name", sorted(set(OPTIONS) - {"dropout"}))
def test_solve_matches_the_full_passes(name: str, grad: bool) -> None:
    """The degree-slice inversion gives what D full passes give, values included, with a
    two-dimensional batch, both with autograd (concatenated blocks) and without (buffers)."""
    g = torch.Generator().manual_seed(2)
    net = bj.nn.MaskedMLP(5, 2, generator=g, **OPTIONS[name])
    net = randomise(net, replace=True, generator=g).double()
    step = bj.transforms.AffineTransformer().inverse
    z = torch.randn(3, 4, 5, dtype=torch.float64, generator=g)
    c = torch.randn(4, net.context_features, dtype=torch.float64, generator=g)
    c = c if net.context_features else None
    with torch.set_grad_enabled(grad):
        x, values = net.solve(z, c, step)
    expected, expected_values = _passes(net, z, c, step)
    torch.testing.assert_close(x, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(values, expected_values, rtol=1e-10, atol=1e-10)


def test_a_solve_without_autograd_returns_plain_tensors() -> None:
    """It runs in inference mode, but what it returns feeds autograd afterwards (an
    inference tensor could not be saved for backward) and the kept plan still serves."""
    flow = bj.flows.MAF(4, transforms=2, hidden=(8,))
    x = flow.sample((3,))
    assert not x.is_inference()
    flow.log_prob(x).sum().backward()  # the sample, saved for backward by the first layer
    assert all(p.grad is not None for p in flow.parameters())
    torch.manual_seed(0)
    again = flow.sample((3,))
    torch.manual_seed(0)
    with torch.enable_grad():
        assert torch.allclose(flow.rsample((3,)), again, atol=1e-6)


def test_solve_gradients_match_the_full_passes() -> None:
    # Moderate random weights: with scale-1 noise the gradients reach 1e7 and both
    # computations round at the 1e-8 relative level, which would test nothing.
    g = torch.Generator().manual_seed(3)
    net = bj.nn.MaskedMLP(4, 2, hidden=(16, 16), residual=True, generator=g)
    net = randomise(net, scale=0.3, generator=g).double()
    step = bj.transforms.AffineTransformer().inverse
    z = torch.randn(6, 4, dtype=torch.float64, generator=g)

    def grads(solver) -> list[torch.Tensor]:
        x, values = solver(net, z, None, step)
        return torch.autograd.grad((x.sin() + values).sum(), list(net.parameters()))

    for got, want in zip(grads(lambda *a: a[0].solve(*a[1:])), grads(_passes), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("residual", [False, True])
def test_solve_costs_about_one_forward_pass(residual: bool) -> None:
    """Counted floating-point operations, not time: the inversion multiplies no more than
    one forward pass does (the masked weights it skips pay for the sequencing)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = bj.nn.MaskedMLP(16, 2, hidden=(64, 64), residual=residual)
    z = torch.randn(32, 16)

    def flops(fn) -> int:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            fn()
        return counter.get_total_flops()

    step = bj.transforms.AffineTransformer().inverse
    forward, solve = flops(lambda: net(z)), flops(lambda: net.solve(z, None, step))
    assert 0.3 * forward < solve <= forward


def test_solve_follows_a_loaded_order() -> None:
    """The natural order skips gathers in `solve`; a state dict with a random order must
    switch that off, so the loaded network still inverts."""
    g = torch.Generator().manual_seed(4)
    # float64: the sliced solve and the passes add in different orders, and in float32
    # their roundings differ by a few ulps, with the memory layout of the run.
    source = randomise(bj.nn.MaskedMLP(5, 2, hidden=(16,), order="random", generator=g), 0.5, g)
    source = source.double()
    target = bj.nn.MaskedMLP(5, 2, hidden=(16,)).double()
    target.load_state_dict(source.state_dict())
    step = bj.transforms.AffineTransformer().inverse
    z = torch.randn(7, 5, generator=g, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(target.solve(z, None, step), _passes(source, z, None, step))


def test_the_kept_solve_plan_follows_parameter_updates_and_copies() -> None:
    """Without autograd, `solve` keeps its views of the weights between calls; an
    in-place update (an optimizer step) must rebuild them, and copies start afresh."""
    import copy
    import io

    g = torch.Generator().manual_seed(5)
    net = randomise(bj.nn.MaskedMLP(4, 2, hidden=(16, 16), generator=g), 0.5, g)
    step = bj.transforms.AffineTransformer().inverse
    z = torch.randn(6, 4, generator=g)
    with torch.no_grad():
        before = net.solve(z, None, step)
        for p in net.parameters():
            p.add_(0.1)
        after = net.solve(z, None, step)
        torch.testing.assert_close(after, _passes(net, z, None, step))
        assert not torch.allclose(before[0], after[0])
    twin = copy.deepcopy(net)
    buffer = io.BytesIO()
    torch.save(net, buffer)
    with torch.no_grad():
        torch.testing.assert_close(twin.solve(z, None, step), after)


def test_a_state_dict_with_units_in_another_layout_still_inverts() -> None:
    """Hidden units used to be laid out cycling through the degrees; a state dict saved
    then (here: the units permuted, masks and weights alike) describes the same network,
    so it must load and invert, by full passes since its masks are not sorted."""
    g = torch.Generator().manual_seed(6)
    net = randomise(bj.nn.MaskedMLP(4, 2, hidden=(12, 12), generator=g), 0.5, g)
    state = net.state_dict()
    p1, p2 = torch.randperm(12, generator=g), torch.randperm(12, generator=g)
    for key in ("first.weight", "first.mask", "first.bias"):
        state[key] = state[key][p1]
    for key in ("blocks.0.weight", "blocks.0.mask"):
        state[key] = state[key][p2][:, p1]
    state["blocks.0.bias"] = state["blocks.0.bias"][p2]
    for key in ("last.weight", "last.mask"):
        state[key] = state[key][:, p2]
    old = bj.nn.MaskedMLP(4, 2, hidden=(12, 12))
    old.load_state_dict(state)
    assert not old.sorted and net.sorted
    x = torch.randn(5, 4, generator=g)
    torch.testing.assert_close(old(x), net(x))
    step = bj.transforms.AffineTransformer().inverse
    with torch.no_grad():
        torch.testing.assert_close(old.solve(x, None, step), net.solve(x, None, step))
