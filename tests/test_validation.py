"""Bad input: one ValueError or TypeError that names what was expected and what was given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bijective as bj
from bijective.transforms import masks

T = bj.transforms


@pytest.fixture
def flow() -> bj.Flow:
    return bj.Flow(T.AffineCoupling(4, masks.half(4)), bj.distributions.StandardNormal(4))


@pytest.fixture
def conditional() -> bj.Flow:
    return bj.Flow(
        T.AffineCoupling(4, masks.half(4), context=3), bj.distributions.StandardNormal(4)
    )


def test_wrong_feature_count(flow: bj.Flow) -> None:
    message = r"Flow.log_prob: expected x of shape \(\*batch, 4\); got shape \(10, 3\)"
    with pytest.raises(ValueError, match=message):
        flow.log_prob(torch.randn(10, 3))
    with pytest.raises(
        ValueError,
        match=r"AffineCoupling.forward: expected x of shape \(\*batch, 4\); got shape \(5,\)",
    ):
        flow.transform(torch.randn(5))
    with pytest.raises(
        ValueError, match=r"Planar.inverse: expected z of shape \(\*batch, 2\); got shape \(3, 5\)"
    ):
        T.Planar(2).inverse(torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"Flow.decode: expected z of shape \(\*batch, 4\)"):
        flow.decode(torch.randn(2, 2))
    with pytest.raises(
        ValueError, match=r"expected x of shape \(\*batch, 2, 3, 3\); got shape \(4, 2, 3\)"
    ):
        T.ActNorm((2, 3, 3))(torch.randn(4, 2, 3))


def test_non_tensor_input(flow: bj.Flow) -> None:
    with pytest.raises(
        TypeError, match="Flow.log_prob: expected x to be a torch.Tensor; got ndarray"
    ):
        flow.log_prob(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="expected x to be a torch.Tensor; got list"):
        T.Sigmoid(2)([[0.0, 1.0]])
    with pytest.raises(TypeError, match="expected context to be a torch.Tensor; got list"):
        T.AffineCoupling(2, masks.half(2), context=1)(torch.zeros(1, 2), [[1.0]])


def test_context_given_to_a_model_built_without_one(flow: bj.Flow) -> None:
    with pytest.raises(
        ValueError, match=r"built without context \(context=0\); got a context \(10, 2\)"
    ):
        flow.log_prob(torch.randn(10, 4), context=torch.randn(10, 2))
    with pytest.raises(ValueError, match="built without context"):
        flow.sample((3,), context=torch.randn(2))


def test_missing_or_misshapen_context(conditional: bj.Flow) -> None:
    x = torch.randn(10, 4)
    with pytest.raises(ValueError, match=r"needs a context of shape \(\*batch, 3\); got none"):
        conditional.log_prob(x)
    with pytest.raises(
        ValueError, match=r"expected context of shape \(\*batch, 3\); got shape \(10, 2\)"
    ):
        conditional.log_prob(x, torch.randn(10, 2))
    with pytest.raises(
        ValueError,
        match=r"context batch shape \(7,\) does not broadcast to the input's batch shape \(10,\)",
    ):
        conditional.log_prob(x, torch.randn(7, 3))
    with pytest.raises(ValueError, match="needs a context"):
        conditional.sample((2,))


def test_transforms_without_conditioner_raise_on_a_context() -> None:
    x = torch.randn(5, 2)
    t = T.Planar(2)
    with pytest.raises(ValueError, match=r"Planar.forward: this model has no conditioner"):
        t(x, torch.randn(5, 9))
    with pytest.raises(ValueError, match=r"Compose.inverse: this model has no conditioner"):
        T.Compose(t).inverse(x, torch.randn(5, 9))
    # Inside a conditional composition the parts without a conditioner simply pass it on.
    mask = bj.transforms.masks.alternating(2)
    both = T.Compose(t, T.AffineCoupling(2, mask, context=9))
    assert both(x, torch.randn(5, 9))[0].shape == (5, 2)


def test_non_finite_data_and_switching_validation_off(flow: bj.Flow) -> None:
    x = torch.randn(10, 4)
    x[3, 1] = float("nan")
    x[5, 0] = float("inf")
    with pytest.raises(ValueError, match=r"x contains NaN or infinite values \(2 of 40 entries\)"):
        flow.log_prob(x)
    bj.set_validation(False)
    try:
        assert not bj.validation_enabled()
        log_p = flow.log_prob(x)  # no check: NaN flows through
        assert torch.isnan(log_p[3])
    finally:
        bj.set_validation(True)


def test_compose_rejects_bad_parts() -> None:
    with pytest.raises(TypeError, match="argument 1 is Linear"):
        T.Compose(T.Planar(2), torch.nn.Linear(2, 2))
    with pytest.raises(
        ValueError,
        match=r"transform 0 outputs events of shape \(2,\) but transform 1 expects \(3,\)",
    ):
        T.Compose(T.Planar(2), T.Planar(3))
    with pytest.raises(ValueError, match="different context sizes"):
        T.Compose(
            T.AffineCoupling(2, masks.half(2), context=1),
            T.AffineCoupling(2, masks.half(2), context=2),
        )
    with pytest.raises(ValueError, match="at least one transform"):
        T.Compose()


def test_finite_data_whose_sum_overflows_is_accepted() -> None:
    """The finiteness check sums first; a sum that overflows on finite data is not an error."""
    flow = bj.Flow(T.Affine(2), bj.distributions.StandardNormal(2))
    x = torch.full((4, 2), 3e38)  # finite in float32, the sum is inf
    assert torch.isinf(x.sum())
    assert flow.log_prob(x).shape == (4,)
    x[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"x contains NaN or infinite values \(1 of 8 entries\)"):
        flow.log_prob(x)
