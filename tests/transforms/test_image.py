"""Image transforms beyond the harness: squeeze's layout, the 1x1 convolution's matrix,
and the multi-scale model's log-density as the sum of its parts."""

from __future__ import annotations

import math

import pytest
import torch
from registry import _multiscale, randomise

import bijective as bj
from bijective.transforms import masks

T = bj.transforms


def test_squeeze_layout() -> None:
    x = torch.arange(2 * 4 * 6, dtype=torch.float64).reshape(1, 2, 4, 6)
    z, ladj = T.Squeeze((2, 4, 6))(x)
    assert z.shape == (1, 8, 2, 3) and ladj.shape == (1,) and float(ladj) == 0
    for c in range(2):
        for i in range(2):
            for j in range(2):
                torch.testing.assert_close(z[0, 4 * c + 2 * i + j], x[0, c, i::2, j::2])
    with pytest.raises(ValueError, match="even height and width"):
        T.Squeeze((1, 3, 4))


@pytest.mark.parametrize("lu", [True, False])
def test_conv1x1_is_a_per_pixel_matrix(lu: bool) -> None:
    torch.manual_seed(0)
    t = randomise(T.Conv1x1((3, 2, 5), lu=lu).double(), 0.3)
    x = torch.randn(4, 3, 2, 5, dtype=torch.float64)
    z, ladj = t(x)
    w = t.matrix()
    conv = torch.nn.functional.conv2d(x, w[:, :, None, None])
    torch.testing.assert_close(z, conv)
    logdet = float(torch.linalg.slogdet(w.detach())[1])
    torch.testing.assert_close(ladj.detach(), torch.full((4,), 10 * logdet, dtype=torch.float64))


def test_multiscale_log_prob_is_the_sum_of_its_parts() -> None:
    """log p(x) of the two-level model = the first level's ladj + log N(z2; mu(z1), sigma(z1))
    of the factored-out half under the learned prior + the second level's ladj + log N(z)
    of the rest, each computed by hand."""
    torch.manual_seed(0)
    t = randomise(_multiscale("learned").double(), 0.1, torch.Generator().manual_seed(0)).eval()
    flow = bj.Flow(t, bj.distributions.StandardNormal(32).double())
    x = torch.randn(5, 2, 4, 4, dtype=torch.float64)
    first, second = t.scales
    prior = t.priors[0]
    h, ladj1 = first(x)
    z1, z2 = h.chunk(2, dim=-3)
    params = prior.conditioner(z1.flatten(-3)).unflatten(-1, (16, 2))
    shift, log_scale = prior.transformer._shift_log_scale(params)
    # The prior coupling maps z2 to z2 exp(s) + t, so z2 ~ N(-t e^-s, e^-2s): mu, sigma.
    mu, log_sigma = -shift * (-log_scale).exp(), -log_scale
    e = (z2.flatten(-3) - mu) * (-log_sigma).exp()
    log_prior = (-0.5 * (e * e + math.log(2 * math.pi)) - log_sigma).sum(-1)
    y, ladj2 = second(z1)
    log_rest = bj.distributions.StandardNormal((4, 2, 2)).double().log_prob(y)
    torch.testing.assert_close(flow.log_prob(x), ladj1 + log_prior + ladj2 + log_rest)
    assert log_sigma.abs().max() > 1e-3  # the prior is not N(0, I)


def test_multiscale_shape_errors() -> None:
    first = T.Squeeze((1, 4, 4))
    with pytest.raises(ValueError, match="scale 1 must take"):
        T.MultiScale([first, T.Squeeze((4, 2, 2))])
    with pytest.raises(ValueError, match="prior 'learned' or 'standard'"):
        T.MultiScale([first, T.Squeeze((2, 2, 2))], prior="gaussian")


def test_conv_coupling_starts_as_identity_and_rejects_vectors() -> None:
    t = T.ConvCoupling(masks.checkerboard((1, 4, 4)), channels=4, blocks=1)
    x = torch.randn(3, 1, 4, 4)
    z, ladj = t(x)
    torch.testing.assert_close(z, x)
    assert float(ladj.detach().abs().max()) == 0
    with pytest.raises(ValueError, match="expected an image shape"):
        T.ConvCoupling(masks.alternating(4))


def test_multiscale_weights_saved_as_levels_load_as_scales() -> None:
    """A state dict from before MultiScale's `levels` list became `scales` (keys
    "levels.0...") loads under the new name, to the same log-density."""
    new = randomise(_multiscale("learned").double(), 0.1, torch.Generator().manual_seed(0))
    state = new.state_dict()
    old = {
        ("levels." + k[len("scales.") :] if k.startswith("scales.") else k): v
        for k, v in state.items()
    }
    assert sum(k.startswith("levels.") for k in old) >= 4
    again = _multiscale("learned").double()
    again.load_state_dict(old)
    x = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    assert torch.equal(again(x)[0], new(x)[0]) and torch.equal(again(x)[1], new(x)[1])
