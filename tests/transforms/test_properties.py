"""Property tests: for any feature count and batch shape, the transforms invert and their
log-det equals the autograd Jacobian's (float64, random parameters)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from registry import randomise

import bijective as bj

T = bj.transforms

FAMILIES = {
    "affine-coupling": lambda d, g: T.AffineCoupling(d, T.masks.random(d, g), hidden=(16,)),
    "additive-coupling": lambda d, g: T.AdditiveCoupling(d, T.masks.half(d), hidden=(16,)),
    "lu-linear": lambda d, g: T.LULinear(d, g),
    "planar": lambda d, g: T.Planar(d, generator=g),
    "radial": lambda d, g: T.Radial(d, g),
    "sylvester": lambda d, g: T.Sylvester(d, m=max(1, d - 1), generator=g),
    "sylvester-householder": lambda d, g: T.Sylvester(d, q="householder", generator=g),
    "actnorm": lambda d, g: T.ActNorm(d),
    "permutation": lambda d, g: T.Permutation.random(d, g),
    "affine": lambda d, g: T.Affine(d),
}


@settings(max_examples=60, deadline=None)
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    features=st.integers(2, 7),
    batch=st.lists(st.integers(1, 4), max_size=2).map(tuple),
    seed=st.integers(0, 2**16),
)
def test_inverse_and_log_det_for_any_size(
    family: str, features: int, batch: tuple, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    t = FAMILIES[family](features, g).double()
    t(torch.randn(16, features, generator=g, dtype=torch.float64))  # data-dependent init
    randomise(t, 0.4, g)
    x = torch.randn(*batch, features, generator=g, dtype=torch.float64)
    z, ladj = t(x)
    assert z.shape == x.shape and ladj.shape == batch
    report = bj.check(t, x.reshape(-1, features) if not batch else x)
    assert report.inverse_error < 1e-6 and report.logdet_error < 1e-6
