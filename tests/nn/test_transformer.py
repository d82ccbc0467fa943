"""The causal transformer: its output at t reads inputs at <= t only, and running it one
position at a time (or in pieces) through the key-value cache gives the full pass."""

from __future__ import annotations

import pytest
import torch

import bijective as bj


def make(dropout: float = 0.0) -> bj.nn.CausalTransformer:
    torch.manual_seed(0)
    net = bj.nn.CausalTransformer(width=8, depth=3, heads=2, dropout=dropout).double()
    with torch.no_grad():  # random, not initial, LayerNorm and bias parameters too
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net.eval()


def test_the_output_at_t_reads_only_positions_up_to_t() -> None:
    net = make()
    h = torch.randn(2, 6, 8, dtype=torch.float64, requires_grad=True)
    out = net(h)
    for t in range(6):
        (grad,) = torch.autograd.grad(out[:, t].sum(), h, retain_graph=True)
        assert grad[:, t + 1 :].abs().max() == 0 if t < 5 else True
        assert grad[:, : t + 1].abs().amin(-1).gt(0).all()  # and every earlier one matters


@pytest.mark.parametrize("pieces", [[1] * 7, [3, 1, 1, 2], [7], [2, 5]])
def test_the_cache_in_pieces_gives_the_full_pass(pieces: list[int]) -> None:
    net, h = make(), torch.randn(4, 7, 8, dtype=torch.float64)
    cache, outs, start = bj.nn.KeyValueCache(3), [], 0
    for size in pieces:
        outs.append(net(h[:, start : start + size], cache))
        start += size
    assert cache.length == 7
    torch.testing.assert_close(torch.cat(outs, 1), net(h), rtol=1e-12, atol=1e-12)


def test_bad_options_get_one_line() -> None:
    with pytest.raises(ValueError, match="width divisible by heads; got width 6, depth 2, heads 4"):
        bj.nn.CausalTransformer(6, 2, 4)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\); got 1.5"):
        bj.nn.CausalTransformer(8, 2, 2, dropout=1.5)
    with pytest.raises(ValueError, match="colours must be >= 1 and divide the features 10; got 3"):
        bj.models.Transformer(10, colours=3)
