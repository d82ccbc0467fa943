"""Element-wise transforms: values against torch's own functions, and argument checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import bijective as bj

T = bj.transforms


@pytest.mark.parametrize(
    "transform,function",
    [
        (T.Sigmoid(3), torch.sigmoid),
        (T.Tanh(3), torch.tanh),
        (T.Softplus(3), F.softplus),
        (T.Exp(3), torch.exp),
        (T.LeakyReLU(3, 0.2), lambda x: F.leaky_relu(x, 0.2)),
    ],
    ids=["sigmoid", "tanh", "softplus", "exp", "leaky-relu"],
)
def test_values_match_torch(transform: bj.transforms.Transform, function) -> None:
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.testing.assert_close(transform.double()(x)[0], function(x))


def test_logit_squeezes_with_alpha() -> None:
    t = T.Logit(2, alpha=0.05)
    z, _ = t(torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(z, torch.logit(torch.tensor([[0.05, 0.95]])))
    with pytest.raises(ValueError, match="0 <= alpha < 0.5"):
        T.Logit(2, alpha=0.5)


def test_nice_scaling_layer_has_no_shift() -> None:
    t = T.Affine(3, shift=False)
    assert [n for n, _ in t.named_parameters()] == ["log_scale"]


def test_leaky_relu_rejects_non_positive_slope() -> None:
    with pytest.raises(ValueError, match="negative_slope > 0"):
        T.LeakyReLU(2, 0.0)
