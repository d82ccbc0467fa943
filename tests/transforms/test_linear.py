"""Permutations and the LU-decomposed linear map."""

from __future__ import annotations

import pytest
import torch
from registry import randomise

import bijective as bj

T = bj.transforms


def test_reverse_permutation_reverses() -> None:
    x = torch.arange(4.0)[None]
    torch.testing.assert_close(T.Permutation.reverse(4)(x)[0], torch.tensor([[3.0, 2.0, 1.0, 0.0]]))


def test_random_permutation_is_reproducible_with_a_generator() -> None:
    a = T.Permutation.random(10, torch.Generator().manual_seed(4)).permutation
    b = T.Permutation.random(10, torch.Generator().manual_seed(4)).permutation
    assert torch.equal(a, b) and not torch.equal(a, torch.arange(10))


def test_permutation_rejects_a_non_permutation() -> None:
    with pytest.raises(ValueError, match="permutation of 0..2"):
        T.Permutation(torch.tensor([0, 0, 2]))


def test_lu_weight_is_p_l_u_and_its_log_det_is_sum_log_abs_s() -> None:
    t = randomise(T.LULinear(6).double(), 0.3)
    w = t.weight()
    x = torch.randn(3, 6, dtype=torch.float64)
    z, ladj = t(x)
    torch.testing.assert_close(z, x @ w.T + t.bias)
    torch.testing.assert_close(ladj, torch.linalg.slogdet(w).logabsdet.expand(3))
    torch.testing.assert_close(t.inverse(z)[0], torch.linalg.solve(w, (z - t.bias).T).T)


def test_lu_starts_as_a_rotation() -> None:
    w = T.LULinear(5).double().weight()
    torch.testing.assert_close(w @ w.T, torch.eye(5, dtype=torch.float64), atol=1e-5, rtol=0)


def test_a_loaded_permutation_replaces_the_reversal() -> None:
    g = torch.Generator().manual_seed(0)
    source, target = bj.transforms.Permutation.random(5, g), bj.transforms.Permutation.reverse(5)
    target.load_state_dict(source.state_dict())
    x = torch.randn(3, 5, generator=g)
    torch.testing.assert_close(target(x)[0], source(x)[0])
    torch.testing.assert_close(target.inverse(x)[0], source.inverse(x)[0])
