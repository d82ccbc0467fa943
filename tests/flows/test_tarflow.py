"""TarFlow: the cached token-by-token inverse equals the naive one (T full passes), the
noise augmentation and the denoising step follow their definitions, and bad options
are one line."""

from __future__ import annotations

import pytest
import torch

import bijective as bj

T = bj.transforms


def randomised(module: torch.nn.Module, scale: float = 0.3) -> torch.nn.Module:
    torch.manual_seed(0)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
    return module.eval()


def naive_inverse(block: T.TokenAutoregressive, z: torch.Tensor, c) -> torch.Tensor:  # noqa: ANN001
    """T full passes: after pass t the first t tokens are exact (x_t needs only x_<t)."""
    x = torch.zeros_like(z)
    zu, c, _ = block._ordered(z, c)
    for _ in range(block.tokens.count):
        u, _, batch = block._ordered(x, None)
        previous = torch.cat([torch.zeros_like(u[:, :1]), u[:, :-1]], 1)
        u, _ = block.transformer.inverse(zu, block._params(previous, 0, c))
        x = block._restored(u, batch)
    return x


@pytest.mark.parametrize(
    "tokens, context",
    [(T.Tokens((6,), 2), 0), (T.Tokens((6,), 1), 3), (T.Tokens((2, 4, 4), patch=2), 2)],
    ids=["vector", "vector-context", "image"],
)
def test_the_cached_inverse_equals_t_full_passes(tokens: T.Tokens, context: int) -> None:
    block = T.TokenAutoregressive(tokens, T.AffineTransformer(), 8, 2, 2, context, reverse=True)
    block = randomised(block)
    z = torch.randn(5, *tokens.event_shape, dtype=torch.float64)
    c = torch.randn(5, context, dtype=torch.float64) if context else None
    x, _ = block.inverse(z, c)
    torch.testing.assert_close(x, naive_inverse(block, z, c), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(x, z)


def test_the_blocks_alternate_the_token_order() -> None:
    flow = bj.flows.TarFlow(4, blocks=3, width=8, depth=1, heads=2)
    assert [b.reverse for b in flow.transform.transforms] == [False, True, False]


def test_noise_augmentation_is_for_training_only_and_denoising_follows_the_score() -> None:
    flow = randomised(bj.flows.TarFlow(4, blocks=2, token=2, width=8, depth=1, heads=2, noise=0.1))
    x = torch.randn(6, 4, dtype=torch.float64)
    assert torch.equal(flow.log_prob(x), flow.log_prob(x))  # eval: the density at x
    flow.train()
    assert not torch.allclose(flow.log_prob(x), flow.log_prob(x))  # train: at x + 0.1 e
    flow.eval()
    xr = x.clone().requires_grad_()
    (score,) = torch.autograd.grad(flow.log_prob(xr).sum(), xr)
    torch.testing.assert_close(flow.denoise(x), x + 0.01 * score)


def test_the_noise_stays_first_inside_a_dequantized_flow() -> None:
    flow = bj.flows.ImageTarFlow((1, 4, 4), blocks=1, width=8, depth=1, heads=2, noise=0.1)
    logit, tarflow = bj.flows.dequantized(flow, 17).flow.transform.transforms
    kinds = [type(t).__name__ for t in tarflow.transforms]
    assert type(logit).__name__ == "Logit"
    assert kinds == ["NoiseAugmentation", "TokenAutoregressive"]


def test_a_class_context_changes_the_density() -> None:
    flow = randomised(bj.flows.ImageTarFlow((1, 4, 4), context=3, blocks=2, width=8, heads=2))
    x = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    one, other = (
        torch.eye(3, dtype=torch.float64)[[0, 0]],
        torch.eye(3, dtype=torch.float64)[[1, 1]],
    )
    assert not torch.allclose(flow.log_prob(x, one), flow.log_prob(x, other))
    assert flow.sample((2,), one[:1]).shape == (2, 1, 1, 4, 4)


def test_bad_options_get_one_line() -> None:
    with pytest.raises(ValueError, match="blocks >= 1; got 0"):
        bj.flows.TarFlow(4, blocks=0)
    with pytest.raises(ValueError, match="noise must be a standard deviation >= 0; got -0.1"):
        bj.flows.TarFlow(4, noise=-0.1)
    with pytest.raises(ValueError, match=r"a token of 3 features must divide a vector's \(4,\)"):
        bj.flows.TarFlow(4, token=3)
    with pytest.raises(ValueError, match="a patch of 3 must divide the height and width"):
        bj.flows.ImageTarFlow((1, 4, 4), patch=3)


def test_classifier_free_guidance_inverts_with_the_guided_parameters() -> None:
    """A guided sample x solves, token by token, z = tau(x; theta_c + w (theta_c - theta_0))
    with both parameter sets from full (uncached) passes over x: checked in float64."""
    torch.manual_seed(0)
    block = (
        bj.transforms.TokenAutoregressive(
            bj.transforms.Tokens((6,), 2),
            bj.transforms.AffineTransformer(),
            width=8,
            depth=1,
            heads=2,
            context=3,
        )
        .double()
        .eval()
    )
    for p in block.parameters():
        p.data.add_(0.3 * torch.randn_like(p))
    z, c = (
        torch.randn(5, 6, dtype=torch.float64),
        torch.eye(3, dtype=torch.float64)[[0, 1, 2, 0, 1]],
    )
    block.guidance = 1.5
    x, _ = block.inverse(z, c)
    u, _, _ = block._ordered(x, c)
    previous = torch.cat([torch.zeros_like(u[:, :1]), u[:, :-1]], 1)
    theta_c = block._params(previous, 0, c)
    theta_0 = block._params(previous, 0, torch.zeros_like(c))
    guided = theta_c + 1.5 * (theta_c - theta_0)
    again, _ = block.transformer.forward(u, guided)
    torch.testing.assert_close(block.tokens.join(again), z, atol=1e-10, rtol=0)
    block.guidance = 0.0
    assert not torch.allclose(block.inverse(z, c)[0], x)  # unguided: another x


def test_guidance_zero_is_plain_sampling_and_dropout_zeroes_contexts_in_training() -> None:
    flow = bj.flows.TarFlow(
        4, context=2, blocks=2, token=2, width=8, depth=1, heads=2, guidance_dropout=1.0
    )
    c = torch.eye(2)[[0, 1, 1]]
    for p in flow.parameters():
        p.data.add_(0.3 * torch.randn_like(p))
    flow.eval()
    torch.manual_seed(1)
    plain = flow.sample((), c)
    torch.manual_seed(1)
    assert torch.equal(flow.sample((), c, guidance=0.0), plain)
    torch.manual_seed(1)
    assert not torch.equal(flow.sample((), c, guidance=2.0), plain)
    x = torch.randn(3, 4)
    assert not torch.allclose(flow.log_prob(x, c), flow.log_prob(x, torch.zeros_like(c)))
    flow.train()  # every context dropped: the unconditional model
    torch.testing.assert_close(flow.log_prob(x, c), flow.log_prob(x, torch.zeros_like(c)))
    with pytest.raises(ValueError, match="guidance needs a context"):
        flow.sample((2,), guidance=1.0)
    with pytest.raises(ValueError, match="guidance_dropout"):
        bj.flows.TarFlow(4, context=2, guidance_dropout=1.5)


def test_dequantized_tarflow_keeps_its_guidance() -> None:
    """Integer data reach a TarFlow through `dequantized` (a logit before its blocks): the
    wrapped flow is still a TarFlow, so guidance_dropout zeroes contexts in training and
    sample(..., guidance=w) is floor(L y) of the flow's guided sample."""
    flow = bj.flows.TarFlow(
        4, context=2, blocks=2, token=2, width=8, depth=1, heads=2, guidance_dropout=1.0
    )
    for p in flow.parameters():
        p.data.add_(0.3 * torch.randn_like(p))
    model = bj.flows.dequantized(flow, levels=17)
    assert isinstance(model.flow, bj.flows.TarFlow) and model.flow.transform is not flow.transform
    x, c = torch.randint(0, 17, (3, 4)), torch.eye(2)[[0, 1, 1]]
    model.train()
    torch.manual_seed(2)
    dropped = model.log_prob(x, c)
    torch.manual_seed(2)
    torch.testing.assert_close(dropped, model.log_prob(x, torch.zeros_like(c)))
    model.eval()
    torch.manual_seed(3)
    guided = model.sample((), c, guidance=2.0)
    torch.manual_seed(3)
    y = model.flow.sample((), c, guidance=2.0)
    assert torch.equal(guided, (y * 17).floor().clamp(0, 16))
    torch.manual_seed(3)
    assert not torch.equal(model.sample((), c), guided)
