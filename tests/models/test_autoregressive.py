"""The autoregressive models of discrete data: exact normalisation (all L^D inputs), the
autoregressive property, samples that follow exp(log_prob), exact fast samplers, the
receptive fields of the PixelCNNs, NADE's running sum, and one-line errors."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
import torch

import bijective as bj
from bijective.models import (
    FVSBN,
    MADE,
    NADE,
    DiscreteAutoregressive,
    GatedPixelCNN,
    PixelCNN,
    Recurrent,
    Transformer,
)

# Tiny models, random parameters: (builder, context size).
MODELS: dict[str, Callable[[int], DiscreteAutoregressive]] = {
    "fvsbn": lambda c: FVSBN(5, context=c),
    "fvsbn-3": lambda c: FVSBN(3, context=c, levels=3),
    "nade": lambda c: NADE(5, context=c, hidden=4),
    "nade-3": lambda c: NADE(3, context=c, levels=3, hidden=4),
    "nade-untied": lambda c: NADE(5, context=c, hidden=4, tied=False),
    "nade-orderings": lambda c: NADE(5, context=c, hidden=4, orderings=3),
    "made": lambda c: MADE(5, context=c, hidden=(8, 8)),
    "made-3": lambda c: MADE(3, context=c, levels=3, hidden=(8,)),
    "made-masks": lambda c: MADE(5, context=c, hidden=(8,), masks=3, order_agnostic=True),
    "pixelcnn": lambda c: PixelCNN((1, 2, 3), context=c, channels=4, blocks=1, first_kernel=3),
    "pixelcnn-rgb": lambda c: PixelCNN(
        (3, 1, 2), context=c, levels=2, channels=6, blocks=1, first_kernel=3
    ),
    "pixelcnn-3": lambda c: PixelCNN((2, 1, 2), context=c, levels=3, channels=4, blocks=1),
    "pixelcnn-mixture": lambda c: PixelCNN(
        (2, 1, 2), context=c, levels=5, channels=4, blocks=1, first_kernel=3, mixture=2
    ),
    "gated": lambda c: GatedPixelCNN((1, 2, 3), context=c, channels=4, layers=2),
    "gated-mixture": lambda c: GatedPixelCNN(
        (1, 2, 2), context=c, levels=4, channels=4, layers=2, mixture=3
    ),
    "gated-rgb": lambda c: GatedPixelCNN((3, 2, 1), context=c, channels=6, layers=2),
    "lstm": lambda c: Recurrent(5, context=c, hidden=6),
    "rnn-3": lambda c: Recurrent(3, context=c, levels=3, hidden=6, cell="rnn"),
    "lstm-truncated": lambda c: Recurrent(5, context=c, hidden=6, layers=2, truncate=2),
    "transformer": lambda c: Transformer(5, context=c, width=8, depth=2, heads=2),
    "transformer-3": lambda c: Transformer(3, context=c, levels=3, width=8, depth=1, heads=2),
    "transformer-rgb": lambda c: Transformer(6, context=c, width=8, depth=2, heads=4, colours=3),
}


def make(name: str, context: int = 0, seed: int = 0) -> DiscreteAutoregressive:
    torch.manual_seed(seed)
    model = MODELS[name](context).double()
    with torch.no_grad():  # random, not initial, parameters
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return model


def every_input(model: DiscreteAutoregressive) -> torch.Tensor:
    values = itertools.product(range(model.levels), repeat=model.features)
    return torch.tensor(list(values), dtype=torch.float64).view(-1, *model.event_shape)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("training", [False, True])
def test_probabilities_of_every_input_sum_to_one(name: str, training: bool) -> None:
    model = make(name).train(training)
    x = every_input(model)
    assert model.features <= 10 and len(x) == model.levels**model.features
    torch.testing.assert_close(model.log_prob(x).exp().sum().item(), 1.0, rtol=0, atol=1e-10)
    conditional = make(name, context=2).train(training)
    for c in torch.eye(2, dtype=torch.float64):
        total = conditional.log_prob(x, c.expand(len(x), 2)).exp().sum().item()
        torch.testing.assert_close(total, 1.0, rtol=0, atol=1e-10)


def _dependencies(model: DiscreteAutoregressive, x: torch.Tensor) -> torch.Tensor:
    """(D, D) booleans: entry (i, j) is whether changing x_j changes the logits of x_i."""
    d = model.features
    base = model.logits(x.view(1, *model.event_shape))[0]
    seen = torch.zeros(d, d, dtype=torch.bool)
    for j in range(d):
        y = x.clone()
        y[j] = (y[j] + 1) % model.levels
        changed = model.logits(y.view(1, *model.event_shape))[0] != base
        seen[:, j] = changed.flatten(1).any(1) if changed.dim() > 1 else changed
    return seen


@pytest.mark.parametrize("name", list(MODELS))
def test_the_logits_of_a_variable_depend_only_on_earlier_ones(name: str) -> None:
    model = make(name).eval()
    for k in range(model.arrangements):
        model.arrange(k)
        position = torch.empty(model.features, dtype=torch.long)
        position[model.order()] = torch.arange(model.features)
        earlier = position[None, :] < position[:, None]  # (i, j): j comes before i
        torch.manual_seed(k)
        seen = _dependencies(model, torch.randint(0, model.levels, (model.features,)).double())
        assert not (seen & ~earlier).any(), "a logit sees its own or a later variable"
        assert seen.any(), "the logits depend on no variable at all"


@pytest.mark.parametrize("name", ["fvsbn", "nade", "made", "pixelcnn", "gated", "lstm"])
def test_the_gradient_of_a_logit_vanishes_for_later_variables(name: str) -> None:
    model = make(name)
    if name == "lstm":  # tokens are not differentiable: the gradient to their embeddings
        x = torch.randint(0, 2, (1, model.features))
        emb = model.inputs(torch.cat([torch.full_like(x[:, :1], model.start), x[:, :-1]], 1), None)
        emb.retain_grad()
        outputs = model.out(model.cell(emb)[0]).squeeze(-1)[0]
        for i in range(model.features):
            emb.grad = None
            outputs[i].backward(retain_graph=True)
            moved = emb.grad[0].abs().sum(-1) > 0  # input step t carries x_{t-1}
            assert not moved[i + 1 :].any() and moved[: i + 1].all()
        return
    x = torch.rand(1, *model.event_shape, dtype=torch.float64, requires_grad=True)
    logits = model.logits(x)[0]
    position = torch.empty(model.features, dtype=torch.long)
    position[model.order()] = torch.arange(model.features)
    for i in range(model.features):
        (grad,) = torch.autograd.grad(logits[i], x, retain_graph=True)
        later = position >= position[i]
        assert (grad.flatten()[later] == 0).all()


@pytest.mark.parametrize(
    "name", ["fvsbn-3", "nade", "made-masks", "pixelcnn", "gated", "gated-mixture", "rnn-3"]
)
def test_samples_follow_the_probabilities(name: str) -> None:
    model = make(name).eval()
    x = every_input(model)
    probs = model.log_prob(x).exp()
    torch.manual_seed(3)
    n = 20_000
    samples = model.sample((n,)).view(n, -1)
    codes = (samples * model.levels ** torch.arange(model.features - 1, -1, -1)).sum(-1).long()
    counts = torch.bincount(codes, minlength=len(x)).double()
    expected = n * probs
    keep = expected >= 5  # the chi-square approximation's rule
    chi2 = (((counts - expected) ** 2 / expected)[keep]).sum().item()
    cells = int(keep.sum())
    # The 0.999 quantile of chi-square with k dof is below k + 4.5 sqrt(2k) for k >= 5.
    assert chi2 < cells + 4.5 * math.sqrt(2 * cells), (chi2, cells)
    assert counts[~keep].sum() <= 3 * expected[~keep].sum() + 10


@pytest.mark.parametrize("name", ["fvsbn", "fvsbn-3", "nade", "nade-3", "pixelcnn", "gated",
                                  "pixelcnn-rgb", "gated-rgb", "pixelcnn-3", "pixelcnn-mixture",
                                  "gated-mixture", "lstm", "rnn-3", "transformer",
                                  "transformer-3", "transformer-rgb"])  # fmt: skip
def test_a_fast_sampler_draws_exactly_what_the_generic_one_does(name: str) -> None:
    model = make(name, context=2).eval()
    context = torch.eye(2, dtype=torch.float64)[torch.arange(50) % 2]
    x = torch.zeros(50, model.features, dtype=torch.float64)
    torch.manual_seed(4)
    fast = model._sample(x.clone(), context, 0.8)
    torch.manual_seed(4)
    generic = DiscreteAutoregressive._sample(model, x.clone(), context, 0.8)
    assert torch.equal(fast, generic)


# Larger images than MODELS', so the caches span rows, columns and kernel widths.
IMAGES: dict[str, Callable[[], DiscreteAutoregressive]] = {
    "pixelcnn-5x5": lambda: PixelCNN((1, 6, 7), context=3, channels=4, blocks=2, first_kernel=5),
    "pixelcnn-rgb-7x7": lambda: PixelCNN(
        (3, 4, 5), context=3, levels=4, channels=6, blocks=2, first_kernel=7
    ),
    "pixelcnn-rgb-mixture": lambda: PixelCNN(
        (3, 4, 4), context=3, levels=8, channels=6, blocks=1, first_kernel=3, mixture=2
    ),
    "gated-5": lambda: GatedPixelCNN((1, 6, 7), context=3, channels=4, layers=3, kernel=5),
    "gated-rgb": lambda: GatedPixelCNN((3, 5, 4), context=3, levels=4, channels=6, layers=3),
    "gated-rgb-mixture": lambda: GatedPixelCNN(
        (3, 4, 4), levels=8, channels=6, layers=2, mixture=2
    ),
}


@pytest.mark.parametrize("name", list(IMAGES))
def test_cached_generation_draws_exactly_what_a_full_pass_per_sub_pixel_does(name: str) -> None:
    torch.manual_seed(1)
    model = IMAGES[name]().double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    rows = 24
    context = None
    if model.context_features:
        context = torch.eye(3, dtype=torch.float64)[torch.arange(rows) % 3]
    x = torch.zeros(rows, model.features, dtype=torch.float64)
    torch.manual_seed(5)
    cached = model._sample(x.clone(), context, 0.9)
    torch.manual_seed(5)
    generic = DiscreteAutoregressive._sample(model, x.clone(), context, 0.9)
    assert torch.equal(cached, generic)
    assert len(cached.unique()) == model.levels  # the draws vary: not a trivial agreement


def _receptive_field(model: DiscreteAutoregressive, i: int, j: int) -> torch.Tensor:
    """|d logit(0, i, j) / d x| > 0 over the (H, W) pixels."""
    x = torch.rand(1, *model.event_shape, dtype=torch.float64, requires_grad=True)
    h, w = model.event_shape[1:]
    logits = model.logits(x)[0]
    (grad,) = torch.autograd.grad(logits[i * w + j], x)
    return grad[0, 0] != 0


def test_the_gated_pixelcnn_sees_every_earlier_pixel_and_the_plain_one_has_a_blind_spot() -> None:
    torch.manual_seed(0)
    shape = (1, 5, 5)
    gated = GatedPixelCNN(shape, channels=8, layers=5, kernel=3).double()
    plain = PixelCNN(shape, channels=8, blocks=5, first_kernel=3).double()
    blind = 0
    for i, j in itertools.product(range(5), range(5)):
        earlier = torch.zeros(5, 5, dtype=torch.bool)
        earlier.view(-1)[: i * 5 + j] = True
        seen = _receptive_field(gated, i, j)
        assert torch.equal(seen, earlier), f"gated PixelCNN at ({i}, {j})"
        seen = _receptive_field(plain, i, j)
        assert not (seen & ~earlier).any()
        blind += int((earlier & ~seen).sum())
    # The plain stack of 3x3 masks never sees the pixels up and to the right, e.g. the
    # pixel (3, 4) from (4, 0) ... however deep: the blind spot.
    assert not _receptive_field(plain, 4, 0)[3, 4] and blind > 0


def test_nade_running_sum_equals_the_quadratic_reference() -> None:
    model = make("nade-orderings").eval()
    x = torch.randint(0, 2, (7, 5)).double()
    for k in range(3):
        model.arrange(k)
        order = model.order()
        reference = torch.empty(7, 5, dtype=torch.float64)
        for position, i in enumerate(order.tolist()):  # O(D^2 H): each h_i from scratch
            before = order[:position]
            h = torch.sigmoid(model.hidden_bias + x[:, before] @ model.weight[:, before].T)
            reference[:, i] = h @ model.out_weight[i, :, 0] + model.out_bias[i, 0]
        torch.testing.assert_close(model.logits(x), reference)


def test_an_ensemble_is_the_mean_of_its_members_probabilities() -> None:
    model = make("made-masks").eval()
    x = torch.randint(0, 2, (6, 5)).double()
    members = []
    for k in range(3):
        model.arrange(k)
        members.append(model._log_prob(x, None))
    mixture = torch.stack(members).exp().mean(0).log()
    torch.testing.assert_close(model.log_prob(x), mixture)
    assert not torch.allclose(members[0], members[1]), "the masks should differ"
    # The masks' degrees and orderings are state: a copy built with another seed agrees
    # once it loads the state dict.
    torch.manual_seed(99)
    copy = MODELS["made-masks"](0).double().eval()
    copy.load_state_dict(model.state_dict())
    torch.testing.assert_close(copy.log_prob(x), model.log_prob(x))


def test_the_discretized_logistic_mixture_matches_its_definition() -> None:
    torch.manual_seed(0)
    params = torch.randn(6, 9, dtype=torch.float64)  # M = 3
    log_p = bj.models.pixelcnn.discretized_logistic_mixture(params, 8)
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(6, dtype=torch.float64))
    pi, mu, s = params[:, :3].softmax(-1), params[:, 3:6], params[:, 6:].exp()
    edges = torch.tensor([-math.inf, *(torch.linspace(-1, 1, 8)[:-1] + 1 / 7), math.inf])
    cdf = torch.sigmoid((edges.double()[None, None] - mu[..., None]) / s[..., None])
    expected = (pi[..., None] * (cdf[..., 1:] - cdf[..., :-1])).sum(1)
    torch.testing.assert_close(log_p.exp(), expected)
    with pytest.raises(ValueError, match="mixture needs levels > 2"):
        PixelCNN((1, 2, 2), levels=2, mixture=2)


def test_fvsbn_has_the_papers_parameter_count() -> None:
    d = 20
    assert sum(p.numel() for p in FVSBN(d).parameters()) == d * (d - 1) // 2 + d


def test_the_recurrent_model_has_as_many_parameters_for_any_length() -> None:
    count = [sum(p.numel() for p in Recurrent(d, hidden=8).parameters()) for d in (5, 500)]
    assert count[0] == count[1]


def test_truncated_backpropagation_keeps_the_value_and_cuts_the_gradient() -> None:
    model = make("lstm-truncated").train()
    x = torch.randint(0, 2, (4, 5)).double()
    exact = make("lstm-truncated").eval().log_prob(x)
    torch.testing.assert_close(model.log_prob(x), exact)
    emb = model.embed.weight
    logits = model.logits(x)  # chunks of 2 steps: step 4 sees steps 0..3 only forward
    (grad,) = torch.autograd.grad(logits[:, 4].sum(), emb)
    # Input step t carries x_{t-1}; the last chunk (step 4) gets gradients from its own
    # input only, the token x_3.
    used = grad.abs().sum(-1) > 0
    assert used[x[:, 3].long()].all()
    assert not used[model.start]  # the start token is at step 0, in another chunk


def test_training_lowers_the_nll_of_a_toy_set() -> None:
    torch.manual_seed(0)
    patterns = torch.tensor([[1, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 1]], dtype=torch.float32)
    data = patterns[torch.randint(0, 2, (256,))]
    data = (data + (torch.rand_like(data) < 0.05)) % 2  # 5% of bits flipped
    for model in (
        FVSBN(6),
        NADE(6, hidden=16),
        MADE(6, hidden=(32,)),
        PixelCNN((1, 2, 3), channels=8, blocks=1, first_kernel=3),
        GatedPixelCNN((1, 2, 3), channels=8, layers=2),
        Recurrent(6, hidden=16),
    ):
        x = data.view(-1, *model.event_shape)
        before = -model.log_prob(x).mean().item()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
        for _ in range(150):
            optimizer.zero_grad()
            (-model.log_prob(x).mean()).backward()
            optimizer.step()
        after = -model.log_prob(x).mean().item()
        # 6 fair bits cost 4.16 nats; two patterns with 5% noise about 2.0.
        assert after < 0.75 * before and after < 3.0, (type(model).__name__, before, after)


def test_bad_input_gets_one_clear_line() -> None:
    binary, categorical = make("nade"), make("made-3")
    with pytest.raises(ValueError, match=r"expected binary values \{0, 1\}; got 0.5"):
        binary.log_prob(torch.full((2, 5), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="binary values"):
        binary.log_prob(torch.tensor([[0, 1, 2, 0, 1]]))
    with pytest.raises(ValueError, match=r"integers 0..2; got 3"):
        categorical.log_prob(torch.tensor([[0, 1, 3]]))
    with pytest.raises(ValueError, match="got nan"):
        categorical.log_prob(torch.tensor([[0.0, float("nan"), 1.0]]))
    with pytest.raises(ValueError, match=r"rows \(sequences\) of 5 values.*got 7"):
        make("lstm").log_prob(torch.zeros(2, 7))
    with pytest.raises(ValueError, match="shape"):
        make("pixelcnn").log_prob(torch.zeros(2, 1, 3, 2))
    for temperature in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            binary.sample((2,), temperature=temperature)
    with pytest.raises(ValueError, match="integers >= 0"):
        binary.sample((-1,))
    with pytest.raises(ValueError, match="levels must be >= 2"):
        NADE(5, levels=1)
    with pytest.raises(ValueError, match="channels 4 must divide by the colours 3"):
        PixelCNN((3, 2, 2), channels=4)


def test_an_empty_batch_gives_empty_results() -> None:
    for name in ("fvsbn", "nade", "made", "pixelcnn", "gated", "lstm"):
        model = make(name)
        assert model.log_prob(torch.zeros(0, *model.event_shape)).shape == (0,)
        assert model.sample((0,)).shape == (0, *model.event_shape)


def test_text_codes_round_trip_and_unknown_characters_raise() -> None:
    text = "To be, or not to be:\nthat is the question."
    assert bj.data.text.decode(bj.data.text.encode(text)) == text
    with pytest.raises(ValueError, match="unknown characters"):
        bj.data.text.encode("caf\u00e9")
    assert bj.data.text.normalise("caf\u00e9\tbar") == "cafe bar"
