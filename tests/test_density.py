"""Every model of the catalogue is a bj.Density, checked the same way: the protocol's exact
signatures, shapes, context handling, temperature, finite values, seeded reproducibility."""

from __future__ import annotations

import inspect

import pytest
import torch

import bijective as bj
from bijective.catalogue import MODELS
from bijective.data.schema import ColumnSpec, Schema

VECTOR = {"features": 3}
IMAGE = {"shape": (1, 4, 4)}
# Tiny arguments for every catalogue entry: a new family must add itself here.
TINY = {
    "maf": {"transforms": 2, "hidden": (8,)},
    "iaf": {"transforms": 2, "hidden": (8,)},
    "nsf": {"transforms": 2, "hidden": (8,), "bins": 4},
    "realnvp": {"transforms": 2, "hidden": (8,)},
    "nice": {"transforms": 2, "hidden": (8,)},
    "planar": {"layers": 3},
    "radial": {"layers": 3},
    "resflow": {"blocks": 2, "hidden": (8,)},
    "iresnet": {"blocks": 2, "hidden": (8,)},
    "ffjord": {"hidden": (8,)},
    "flow-matching": {"hidden": (8,)},
    "tarflow": {"blocks": 2, "width": 8, "depth": 1, "heads": 2},
    "image-tarflow": {"blocks": 2, "patch": 2, "width": 8, "depth": 1, "heads": 2},
    "glow": {"scales": 2, "steps": 1, "channels": 4},
    "image-realnvp": {"scales": 2, "channels": 4, "blocks": 1},
    "image-resflow": {"scales": 2, "blocks": 1, "channels": 4},
    "vae": {"latent": 2, "hidden": (8, 8)},
    "fvsbn": {},
    "nade": {"hidden": 4},
    "made": {"hidden": (8,), "masks": 2},
    "pixelcnn": {"channels": 4, "blocks": 1},
    "gated-pixelcnn": {"channels": 4, "layers": 2},
    "lstm": {"hidden": 6},
    "rnn": {"hidden": 6},
    "transformer": {"width": 8, "depth": 1, "heads": 2},
    "tabular": {"hidden": (8,), "categorical_hidden": (8,), "bins": 3},
    "image-flow-matching": {"channels": 4, "levels": 2},
}
SCHEMA = Schema(
    (
        ColumnSpec("c", "categorical", categories=("a", "b")),
        ColumnSpec("n", "count", lower=0.0),
        ColumnSpec("y", "continuous"),
    )
).to_dict()
LEVELS = 4  # image flows model 4-level pixels through a DequantizedFlow


def make(name: str, context: int = 0) -> torch.nn.Module:
    entry = MODELS[name]
    supplied = {"features": 3, "context": context, "shape": (1, 4, 4), "levels": LEVELS}
    supplied["schema"] = SCHEMA
    torch.manual_seed(0)
    model = entry.build(**{k: supplied[k] for k in entry.from_data}, **TINY[name])
    if "shape" in entry.from_data and "levels" not in entry.from_data:
        model = bj.flows.dequantized(model, LEVELS)
    return model.double()


def data(model: torch.nn.Module, n: int) -> torch.Tensor:
    shape = (n, *model.event_shape)
    if isinstance(model, bj.flows.DequantizedFlow | bj.models.DiscreteAutoregressive):
        return torch.randint(0, LEVELS, shape).double()
    if isinstance(model, bj.models.VAE):
        return torch.randint(0, 2, shape).double()
    if isinstance(model, bj.tabular.Tabular):
        return torch.stack(
            [torch.randint(0, 2, (n,)), torch.randint(0, 5, (n,)), torch.randn(n)], 1
        ).double()
    return torch.randn(shape, dtype=torch.float64)


def test_every_catalogue_model_has_tiny_arguments_here() -> None:
    assert set(TINY) == set(MODELS)


def _leading(function: object) -> list[tuple[str, object]]:
    parameters = list(inspect.signature(function).parameters.values())
    rest = parameters[3:] if parameters[0].name == "shape" else parameters[2:]
    assert all(p.kind is p.KEYWORD_ONLY for p in rest), "extras must be keyword-only"
    return [(p.name, p.default) for p in parameters if p.kind is not p.KEYWORD_ONLY]


@pytest.mark.parametrize("name", list(TINY))
def test_a_catalogue_model_satisfies_the_density_protocol(name: str) -> None:
    model = make(name).eval()
    assert isinstance(model, bj.Density)
    assert _leading(model.log_prob) == [("x", inspect.Parameter.empty), ("context", None)]
    assert _leading(model.sample) == [("shape", ()), ("context", None), ("temperature", 1.0)]
    x = data(model, 5)
    log_p = model.log_prob(x)
    assert log_p.shape == (5,) and log_p.isfinite().all()
    samples = model.sample((2, 3))
    assert samples.shape == (2, 3, *model.event_shape) and samples.isfinite().all()
    # Seeded: the same seed gives the same draws and the same (possibly stochastic) log_prob.
    torch.manual_seed(1)
    a, la = model.sample((4,)), model.log_prob(x)
    torch.manual_seed(1)
    b, lb = model.sample((4,)), model.log_prob(x)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(la, lb)
    # Temperature is used: the same seed at T = 0.05 gives other draws than at T = 1.
    torch.manual_seed(2)
    hot = model.sample((64,))
    torch.manual_seed(2)
    cold = model.sample((64,), temperature=0.05)
    assert not torch.equal(hot, cold)
    # A model built without a context raises on one instead of ignoring it.
    with pytest.raises(ValueError, match="context"):
        model.log_prob(x, torch.randn(5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="context"):
        model.sample((5,), torch.randn(5, 2, dtype=torch.float64))


@pytest.mark.parametrize("name", [n for n in TINY if "context" in MODELS[n].from_data])
def test_a_conditional_catalogue_model_needs_and_uses_its_context(name: str) -> None:
    if name in ("planar", "radial"):
        pytest.skip("planar and radial flows have no conditional form")
    model = make(name, context=2).eval()
    x, context = data(model, 5), torch.randn(5, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="needs a context"):
        model.log_prob(x)
    log_p = model.log_prob(x, context)
    assert log_p.shape == (5,) and log_p.isfinite().all()
    with torch.no_grad():  # a non-zero last layer, so the context changes the density
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert not torch.allclose(model.log_prob(x, context), model.log_prob(x, -context))
    assert model.sample((), context).shape == (5, *model.event_shape)


def test_the_old_name_of_the_discrete_base_class_warns_and_still_works() -> None:
    with pytest.warns(DeprecationWarning, match="DiscreteAutoregressive"):
        old = bj.models.Autoregressive
    assert old is bj.models.DiscreteAutoregressive
    assert bj.models.DiscreteAutoregressive is not bj.transforms.Autoregressive
