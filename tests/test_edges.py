"""The edges of the likelihood API on every family: an empty batch, a batch of one,
mismatched dtypes, NaN in a context, bad sample sizes and temperatures, huge inputs."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch

import bijective as bj

F = bj.flows


def _models() -> dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...], int]]:
    """name -> (builder, event shape, context features)."""
    return {
        "maf": (lambda: F.MAF(3, transforms=2, hidden=(8,)), (3,), 0),
        "maf-context": (lambda: F.MAF(3, context=2, transforms=2, hidden=(8,)), (3,), 2),
        "nsf": (lambda: F.NSF(3, transforms=2, hidden=(8,)), (3,), 0),
        "realnvp": (lambda: F.RealNVP(3, transforms=2, hidden=(8,)), (3,), 0),
        "planar": (lambda: F.PlanarFlow(2, layers=3), (2,), 0),
        "resflow": (lambda: F.ResidualFlow(2, blocks=2, hidden=(8,)), (2,), 0),
        "glow": (lambda: F.Glow((1, 4, 4), scales=1, steps=2, channels=8), (1, 4, 4), 0),
        "image-realnvp": (lambda: F.ImageRealNVP((1, 4, 4), scales=1, channels=8), (1, 4, 4), 0),
        "dequantized-glow": (
            lambda: F.dequantized(F.Glow((1, 4, 4), scales=1, steps=1, channels=8), 4),
            (1, 4, 4),
            0,
        ),
        "nade": (lambda: bj.models.NADE(5, hidden=8), (5,), 0),
        "vae": (lambda: bj.models.VAE(6, latent=2, hidden=(8,)), (6,), 0),
    }


MODELS = _models()
DISCRETE = {"dequantized-glow", "nade", "vae"}


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _data(name: str, batch: tuple[int, ...]) -> torch.Tensor:
    _, shape, _ = MODELS[name]
    if name == "dequantized-glow":
        return torch.randint(0, 4, (*batch, *shape)).float()
    if name in ("nade", "vae"):
        return torch.randint(0, 2, (*batch, *shape)).float()
    return torch.randn(*batch, *shape)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_an_empty_batch_is_empty_out_and_changes_nothing(name: str, mode: str) -> None:
    build, shape, context = MODELS[name]
    torch.manual_seed(0)
    model = build().train(mode == "train")  # fresh: ActNorm not yet initialised
    before = _state(model)
    c = torch.randn(0, context) if context else None
    assert model.log_prob(_data(name, (0,)), c).shape == (0,)
    assert model.sample((0,), c if context else None).shape[-len(shape) :] == shape
    assert model.sample(0).shape == (0, *shape) if not context else True
    after = _state(model)
    assert after.keys() == before.keys()
    for key, value in after.items():
        assert torch.equal(value, before[key]), f"{key} changed on an empty batch"
    if name in ("glow", "dequantized-glow"):  # ActNorm then initialises on real data
        model.log_prob(_data(name, (16,)))
        assert all(torch.isfinite(v).all() for v in model.state_dict().values())


def test_actnorm_refuses_to_initialise_on_one_row() -> None:
    norm = bj.transforms.ActNorm(3)
    with pytest.raises(ValueError, match="at least 2 values per channel.*got 1"):
        norm(torch.randn(1, 3))
    assert not norm.initialized and torch.equal(norm.log_scale, torch.zeros(3))
    norm(torch.randn(2, 3))
    assert norm.initialized
    image = bj.transforms.ActNorm((2, 3, 3))  # one image has 9 values per channel: enough
    image(torch.randn(1, 2, 3, 3))
    assert image.initialized


@pytest.mark.parametrize("name", sorted(set(MODELS) - DISCRETE))
def test_a_dtype_other_than_the_models_is_one_line_naming_both(name: str) -> None:
    build, shape, context = MODELS[name]
    model = build().eval()
    c = torch.randn(4, context) if context else None
    for dtype in (torch.float64, torch.float16, torch.int64):
        x = _data(name, (4,)).to(dtype)
        with pytest.raises(ValueError, match=f"x has dtype {dtype} but the model's parameters"):
            model.log_prob(x, c)
    if context:
        with pytest.raises(ValueError, match="context has dtype torch.float64"):
            model.log_prob(_data(name, (4,)), c.double())
    assert (
        model.double().log_prob(_data(name, (4,)).double(), c if c is None else c.double()).dtype
        == torch.float64
    )


def test_nan_in_a_context_is_refused() -> None:
    flow = F.MAF(3, context=2, transforms=1, hidden=(8,))
    context = torch.randn(4, 2)
    context[1, 0] = float("nan")
    for call in (
        lambda: flow.log_prob(torch.randn(4, 3), context),
        lambda: flow.sample((2,), context),
    ):
        with pytest.raises(ValueError, match="context contains NaN or infinite values"):
            call()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bad_sample_sizes_and_temperatures_are_refused(name: str) -> None:
    build, _, context = MODELS[name]
    model = build().eval()
    c = torch.randn(2, context) if context else None
    for shape in (-1, (2, -1)):
        with pytest.raises(ValueError, match="expected a sample shape of integers >= 0"):
            model.sample(shape, c)
    for temperature in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            model.sample((2,), c, temperature)


def test_huge_finite_inputs_warn_that_the_density_overflowed() -> None:
    flow = F.MAF(2, transforms=2, hidden=(8,))
    x = torch.tensor([[0.5, -0.2], [1e30, 3.0]])
    with pytest.warns(RuntimeWarning, match=r"1 of 2 log-densities are -inf or NaN.*1e\+30"):
        log_p = flow.log_prob(x)
    assert torch.isfinite(log_p[0]) and not torch.isfinite(log_p[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flow.log_prob(torch.randn(5, 2))  # ordinary data: no warning


def test_a_dequantized_flow_takes_integer_tensors_as_their_float_values() -> None:
    """x may hold its integers as an integer tensor: the same log P(x) as the floats
    (it failed with torch's 'check_uniform_bounds not implemented for Long')."""
    flow = bj.flows.dequantized(bj.flows.MAF(4, transforms=1, hidden=(8,)), levels=17)
    x = torch.randint(0, 17, (5, 4))
    torch.manual_seed(0)
    as_integers = flow.log_prob(x)
    torch.manual_seed(0)
    torch.testing.assert_close(as_integers, flow.log_prob(x.float()))
