"""Spectral normalisation and the Lipschitz bound of a contractive residual branch."""

from __future__ import annotations

import pytest
import torch

import bijective as bj


def test_eval_spectral_norm_is_at_most_coeff_exactly() -> None:
    torch.manual_seed(0)
    layer = bj.nn.SpectralLinear(6, 9, coeff=0.7).double().eval()
    with torch.no_grad():
        layer.weight.mul_(5)  # far above the bound
    sigma = torch.linalg.matrix_norm(layer.normalised_weight(), ord=2)
    assert abs(float(sigma.detach()) - 0.7) < 1e-12
    with torch.no_grad():
        layer.weight.mul_(1e-3)  # below the bound: W is left as it is
    torch.testing.assert_close(layer.normalised_weight(), layer.weight)


def test_training_power_iteration_converges_to_the_exact_norm_and_is_saved() -> None:
    torch.manual_seed(1)
    layer = bj.nn.SpectralLinear(5, 7).double()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(7, 5, dtype=torch.float64))
    first = float(layer.sigma().detach())
    for _ in range(200):
        estimate = float(layer.sigma().detach())
    exact = float(torch.linalg.matrix_norm(layer.weight.detach(), ord=2))
    assert first <= exact + 1e-12  # u^T W v of unit vectors never exceeds sigma
    assert abs(estimate - exact) < 1e-8 * exact
    state = layer.state_dict()
    assert {"u", "v"} <= set(state)
    fresh = bj.nn.SpectralLinear(5, 7).double()
    fresh.load_state_dict(state)
    assert float(fresh.sigma().detach()) == pytest.approx(exact, rel=1e-8)


@pytest.mark.parametrize("activation", ["lipswish", "elu", "tanh"])
def test_lipschitz_mlp_is_a_contraction(activation: str) -> None:
    torch.manual_seed(2)
    net = bj.nn.LipschitzMLP(4, (32, 32), coeff=0.9, activation=activation).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(3 * torch.randn_like(p))
    x, y = torch.randn(2, 5000, 4, dtype=torch.float64)
    ratio = (net(x) - net(y)).norm(dim=-1) / (x - y).norm(dim=-1)
    assert float(ratio.detach().max()) <= 0.9
    # The bound is attained by one layer: its Lipschitz constant is then exactly coeff.
    single = bj.nn.LipschitzMLP(4, (), coeff=0.9).double().eval()
    with torch.no_grad():
        single.layers[0].weight.mul_(10)
    top = torch.linalg.svd(single.layers[0].weight).Vh[0]
    stretch = (single(x + top) - single(x)).norm(dim=-1)
    torch.testing.assert_close(stretch, torch.full_like(stretch, 0.9))


def test_lipswish_is_1_lipschitz_for_any_beta() -> None:
    phi = bj.nn.LipSwish().double()
    x = torch.linspace(-20, 20, 20001, dtype=torch.float64, requires_grad=True)
    for b in (-5.0, 0.5, 3.0, 10.0):
        with torch.no_grad():
            phi.b.fill_(b)
        (slope,) = torch.autograd.grad(phi(x).sum(), x)
        assert float(slope.abs().max()) <= 1.0


def test_bad_settings_say_which() -> None:
    with pytest.raises(ValueError, match="coeff"):
        bj.nn.SpectralLinear(2, 2, coeff=0)
    with pytest.raises(ValueError, match="activation"):
        bj.nn.LipschitzMLP(2, activation="relu6")


def test_spectral_conv_normalises_the_operator_norm_of_the_convolution() -> None:
    """The convolution as a matrix on whole (C, H, W) images (zero padding), built column by
    column: its largest singular value is the one the layer bounds."""
    torch.manual_seed(3)
    shape = (2, 5, 4)
    layer = bj.nn.SpectralConv2d(shape, 3, kernel=3, coeff=0.8).double().eval()
    with torch.no_grad():
        layer.weight.mul_(4)
        basis = torch.eye(40, dtype=torch.float64).reshape(40, *shape)
        weight = layer.normalised_weight()
        matrix = (layer(basis, weight) - layer.bias[:, None, None]).reshape(40, -1).T
    assert abs(float(torch.linalg.matrix_norm(matrix, ord=2)) - 0.8) < 1e-5
    assert "u" in layer.state_dict() and layer.state_dict()["u"].shape == (3, 5, 4)


def test_lipschitz_conv_net_is_a_contraction() -> None:
    torch.manual_seed(4)
    net = bj.nn.LipschitzConvNet((2, 4, 4), channels=8, coeff=0.9).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    x, y = torch.randn(2, 500, 2, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        ratio = (net(x) - net(y)).flatten(1).norm(dim=1) / (x - y).flatten(1).norm(dim=1)
    assert float(ratio.max()) <= 0.9 + 1e-6


@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda: bj.nn.LipschitzMLP(2, activation="relu"), "LipschitzMLP"),
        (lambda: bj.nn.LipschitzConvNet((1, 4, 4), activation="relu"), "LipschitzConvNet"),
    ],
)
def test_an_activation_that_is_not_1_lipschitz_is_refused(build, where) -> None:
    with pytest.raises(ValueError, match=rf"{where}: expected activation in \['elu', 'lipswish'"):
        build()
