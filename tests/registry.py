"""The registry every transform goes through: one line per named constructor.

Each case says how to build the transform, its event shape, where its inputs live (data
sampler for x, latent sampler for z), and for 1-D and 2-D events the base distribution and
box on which its flow's density is integrated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

import bijective as bj
from bijective.transforms import masks

T = bj.transforms
D = bj.distributions

Sampler = Callable[[tuple[int, ...], torch.Generator], Tensor]
# Where and in which precision the harness runs (tests/conftest.py: --device, --dtype), and
# the tolerance of its inverse and log-det checks there.
DEVICE, DTYPE = torch.device("cpu"), torch.float64
TOLERANCE = {torch.float64: 1e-6, torch.float32: 1e-4}


def normal(shape: tuple[int, ...], g: torch.Generator) -> Tensor:
    return torch.randn(shape, generator=g, dtype=torch.float64)


def uniform(low: float, high: float) -> Sampler:
    def sample(shape: tuple[int, ...], g: torch.Generator) -> Tensor:
        return low + (high - low) * torch.rand(shape, generator=g, dtype=torch.float64)

    return sample


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bj.transforms.Transform]
    shape: tuple[int, ...]
    context: int = 0
    data: Sampler = normal
    latent: Sampler = normal
    base: Callable[[], D.Distribution] | None = None  # default: StandardNormal(shape)
    bounds: tuple[float, float] = (-12.0, 12.0)  # integration box, per dimension
    grid: int = 1200  # points per dimension in 2-D (even: a kink at 0 falls mid-cell)
    scale: float = 0.5  # std of the random perturbation added to every parameter
    train_eval_agree: bool = True
    latent_shape: tuple[int, ...] | None = None  # when the transform changes the shape

    def __str__(self) -> str:
        return self.name


def _compose_2d() -> T.Transform:
    m = masks.alternating(2)
    return T.Compose(
        T.ActNorm(2),
        T.AffineCoupling(2, m, hidden=(16,)),
        T.LULinear(2),
        T.Planar(2),
        T.AffineCoupling(2, ~m, hidden=(16,)),
    )


def _multiscale(prior: str) -> T.Transform:
    """Two levels on 2x4x4: squeeze -> 8x2x2, a coupling; factor out 4 channels; then a
    1x1 convolution and a coupling on 4x2x2."""
    first = T.Compose(
        T.Squeeze((2, 4, 4)), T.ConvCoupling(masks.channel((8, 2, 2)), channels=8, blocks=1)
    )
    second = T.Compose(
        T.Conv1x1((4, 2, 2)), T.ConvCoupling(masks.checkerboard((4, 2, 2)), channels=8, blocks=1)
    )
    return T.MultiScale([first, second], prior=prior, channels=8, blocks=1)


# The image of [0, 1] under Logit(alpha=0.05), widened by 1e-9 so rounding keeps the grid inside.
LOGIT_LOW, LOGIT_HIGH = math.log(0.05 / 0.95) - 1e-9, math.log(0.95 / 0.05) + 1e-9

# Training mode estimates their log-dets (and iterates power iterations): eval is exact.
CONTRACTIVE = {"train_eval_agree": False}
ODE_TOL = {"rtol": 1e-10, "atol": 1e-10}
# A smaller grid keeps the 2-D quadrature (one ODE solve of all its points) quick.
CONTINUOUS = {"train_eval_agree": False, "scale": 0.3, "grid": 300, "bounds": (-9.0, 9.0)}


CASES: list[Case] = [
    # element-wise
    Case("affine-3", lambda: T.Affine(3), (3,)),
    Case("affine-2", lambda: T.Affine(2), (2,)),
    Case("affine-noshift-image", lambda: T.Affine((2, 3, 3), shift=False), (2, 3, 3)),
    Case(
        "sigmoid-2",
        lambda: T.Sigmoid(2),
        (2,),
        latent=uniform(0.05, 0.95),
        base=lambda: D.Uniform(torch.zeros(2), torch.ones(2)),
        bounds=(-40, 40),
    ),
    Case("logit-1", lambda: T.Logit(1), (1,), data=uniform(0.02, 0.98), bounds=(1e-6, 1 - 1e-6)),
    Case(
        "logit-alpha-2",
        lambda: T.Logit(2, alpha=0.05),
        (2,),
        data=uniform(0.02, 0.98),
        base=lambda: D.Uniform(
            torch.full((2,), LOGIT_LOW, dtype=torch.float64),
            torch.full((2,), LOGIT_HIGH, dtype=torch.float64),
        ),
        bounds=(0, 1),
    ),
    Case(
        "tanh-2",
        lambda: T.Tanh(2),
        (2,),
        latent=uniform(-0.95, 0.95),
        base=lambda: D.Uniform(-torch.ones(2), torch.ones(2)),
        bounds=(-25, 25),
    ),
    Case(
        "softplus-1",
        lambda: T.Softplus(1),
        (1,),
        latent=uniform(0.1, 3.0),
        base=lambda: D.Uniform(torch.zeros(1), torch.full((1,), 2.0)),
        bounds=(-40, 2.0),
    ),
    Case("leaky-relu-2", lambda: T.LeakyReLU(2, negative_slope=0.5), (2,), bounds=(-20, 20)),
    Case(
        "exp-1",
        lambda: T.Exp(1),
        (1,),
        latent=uniform(0.1, 3.0),
        base=lambda: D.Uniform(torch.zeros(1), torch.full((1,), 2.0)),
        bounds=(-40, math.log(2.0)),
    ),
    # linear
    Case("permutation-reverse-4", lambda: T.Permutation.reverse(4), (4,)),
    Case("permutation-random-5", lambda: T.Permutation.random(5), (5,)),
    Case("lu-linear-2", lambda: T.LULinear(2), (2,)),
    Case("lu-linear-5", lambda: T.LULinear(5), (5,)),
    # normalization
    Case("actnorm-2", lambda: T.ActNorm(2), (2,)),
    Case("actnorm-image", lambda: T.ActNorm((2, 3, 3)), (2, 3, 3)),
    Case("batchnorm-2", lambda: T.BatchNorm(2), (2,), train_eval_agree=False),
    Case("batchnorm-image", lambda: T.BatchNorm((2, 3, 3)), (2, 3, 3), train_eval_agree=False),
    # residual
    Case("planar-1", lambda: T.Planar(1), (1,)),
    Case("planar-2", lambda: T.Planar(2), (2,)),
    Case("planar-5", lambda: T.Planar(5), (5,)),
    Case("planar-3-stack-of-4", lambda: T.Planar(3, layers=4), (3,)),
    Case("radial-2", lambda: T.Radial(2), (2,)),
    Case("radial-5", lambda: T.Radial(5), (5,)),
    Case("sylvester-orthogonal-2", lambda: T.Sylvester(2), (2,)),
    Case("sylvester-orthogonal-5-m3", lambda: T.Sylvester(5, m=3), (5,)),
    Case("sylvester-householder-4", lambda: T.Sylvester(4, q="householder", reflections=3), (4,)),
    Case("sylvester-triangular-2", lambda: T.Sylvester(2, q="triangular"), (2,)),
    # Amortised: parameters per example from a linear head on the context (VAE posteriors).
    Case("planar-3-stack-of-3-context-4", lambda: T.Planar(3, layers=3, context=4), (3,), 4),
    Case("radial-3-context-2", lambda: T.Radial(3, context=2), (3,), 2),
    Case(
        "sylvester-householder-3-context-2",
        lambda: T.Sylvester(3, q="householder", reflections=2, context=2),
        (3,),
        2,
    ),
    Case("sylvester-orthogonal-4-m2-context-3", lambda: T.Sylvester(4, m=2, context=3), (4,), 3),
    Case("planar-2-context-2", lambda: T.Planar(2, context=2), (2,), 2),
    # coupling
    Case("coupling-additive-4", lambda: T.AdditiveCoupling(4, masks.half(4)), (4,)),
    # Large random conditioner weights saturate the log-scale clamp and give heavy tails:
    # a smaller perturbation and a wider box keep the integral's truncation below 1e-4.
    Case(
        "coupling-affine-2",
        lambda: T.AffineCoupling(2, masks.alternating(2)),
        (2,),
        scale=0.2,
        bounds=(-30, 30),
        grid=2400,
    ),
    Case("coupling-affine-5-random", lambda: T.AffineCoupling(5, masks.random(5)), (5,)),
    # The view-based layouts, each with the transformed part first: alternating, halves.
    Case(
        "coupling-affine-6-odd-entries",
        lambda: T.AffineCoupling(6, masks.alternating(6, even=False)),
        (6,),
    ),
    Case("coupling-affine-5-last-half", lambda: T.AffineCoupling(5, masks.half(5, False)), (5,)),
    Case(
        "coupling-affine-context-2",
        lambda: T.AffineCoupling(2, masks.half(2), context=3),
        (2,),
        context=3,
    ),
    Case(
        "coupling-affine-checkerboard",
        lambda: T.AffineCoupling((2, 4, 4), masks.checkerboard((2, 4, 4)), hidden=(32,)),
        (2, 4, 4),
    ),
    Case(
        "coupling-additive-channel",
        lambda: T.AdditiveCoupling((4, 2, 2), masks.channel((4, 2, 2)), hidden=(32,)),
        (4, 2, 2),
    ),
    # autoregressive (MAF direction; .inv is IAF). Random conditioner weights far from
    # zero make spline slopes reach 1e-13, where no inverse is accurate: 0.2 keeps them
    # random yet well-conditioned (test_splines.py covers the extremes).
    Case("maf-affine-4", lambda: T.Autoregressive(4, T.AffineTransformer(), hidden=(16, 16)), (4,)),
    Case(
        "maf-affine-2",
        lambda: T.Autoregressive(2, T.AffineTransformer(), hidden=(16,)),
        (2,),
        scale=0.2,
        bounds=(-30, 30),
        grid=2400,
    ),
    # TarFlow blocks: a causal transformer over tokens (groups of features, image patches).
    # (One block; 'reversed' reads the tokens last to first.)
    Case(
        "tarflow-block-2",
        lambda: T.TokenAutoregressive(T.Tokens((2,)), T.AffineTransformer(), 8, 1, 2),
        (2,),
        scale=0.2,
        bounds=(-30, 30),
        grid=2400,
    ),
    Case(
        "tarflow-block-6-reversed-context",
        lambda: T.TokenAutoregressive(
            T.Tokens((6,), 2), T.AffineTransformer(), 8, 2, 2, context=3, reverse=True
        ),
        (6,),
        context=3,
        scale=0.3,  # at 0.5 the log-scales reach the clamp 5: e^5 times float32's error
    ),
    Case(
        "tarflow-block-spline-4",
        lambda: T.TokenAutoregressive(T.Tokens((4,), 2), T.SplineTransformer(bins=4), 8, 1, 2),
        (4,),
        scale=0.2,
    ),
    Case(
        "tarflow-block-image",
        lambda: T.TokenAutoregressive(T.Tokens((2, 4, 4), patch=2), T.AffineTransformer(), 8, 1, 2),
        (2, 4, 4),
        scale=0.3,  # as above
    ),
    Case(
        "maf-additive-3", lambda: T.Autoregressive(3, T.AdditiveTransformer(), order="random"), (3,)
    ),
    Case(
        "maf-spline-4",
        lambda: T.Autoregressive(4, T.SplineTransformer(bins=5), hidden=(16, 16)),
        (4,),
        scale=0.2,
    ),
    Case(
        "maf-spline-2",
        lambda: T.Autoregressive(2, T.SplineTransformer(bins=4), hidden=(16,)),
        (2,),
        scale=0.2,
    ),
    Case(
        "maf-spline-residual-5",
        lambda: T.Autoregressive(
            5, T.SplineTransformer(), hidden=(16, 16, 16), residual=True, order="random"
        ),
        (5,),
        scale=0.2,
    ),
    Case(
        "maf-affine-context-3",
        lambda: T.Autoregressive(3, T.AffineTransformer(), hidden=(16,), context=2),
        (3,),
        context=2,
    ),
    Case(
        "iaf-affine-3", lambda: T.Autoregressive(3, T.AffineTransformer(), hidden=(16,)).inv, (3,)
    ),
    Case(
        "iaf-spline-context-3",
        lambda: T.Autoregressive(3, T.SplineTransformer(bins=4), hidden=(16,), context=2).inv,
        (3,),
        context=2,
        scale=0.2,
    ),
    Case(
        "coupling-spline-4",
        lambda: T.Coupling(masks.half(4), T.SplineTransformer()),
        (4,),
        scale=0.2,
    ),
    Case(
        "coupling-spline-2",
        lambda: T.Coupling(masks.alternating(2), T.SplineTransformer(bins=6), hidden=(16,)),
        (2,),
        scale=0.2,
    ),
    # contractive residual blocks (exact log-det in eval mode) and continuous flows
    Case("iresnet-block-2", lambda: T.InvertibleResidual(2, (16, 16)), (2,), **CONTRACTIVE),
    Case(
        "iresnet-block-3-elu-coeff-0.5",
        lambda: T.InvertibleResidual(3, (8,), coeff=0.5, activation="elu"),
        (3,),
        **CONTRACTIVE,
    ),
    Case(
        "iresnet-block-4-context-3",
        lambda: T.InvertibleResidual(4, (16, 16), context=3),
        (4,),
        3,
        **CONTRACTIVE,
    ),
    Case("inverse-iresnet-2", lambda: T.InvertibleResidual(2, (16,)).inv, (2,), **CONTRACTIVE),
    Case(
        "conv-iresnet-2x4x4",
        lambda: T.ConvInvertibleResidual((2, 4, 4), channels=4, eval_logdet="exact"),
        (2, 4, 4),
        **CONTRACTIVE,
    ),
    Case("cnf-2", lambda: T.ContinuousFlow(2, (8, 8), **ODE_TOL), (2,), **CONTINUOUS),
    Case(
        "cnf-3-context-2-softplus",
        lambda: T.ContinuousFlow(3, (8,), context=2, activation="softplus", **ODE_TOL),
        (3,),
        2,
        **CONTINUOUS,
    ),
    # composition and inverse views
    Case("compose-2", _compose_2d, (2,), scale=0.2, bounds=(-30, 30), grid=2400),
    Case("inverse-planar-2", lambda: T.Planar(2).inv, (2,)),
    Case("inverse-planar-2-stack-of-3", lambda: T.Planar(2, layers=3).inv, (2,)),
    Case("inverse-sylvester-3", lambda: T.Sylvester(3).inv, (3,)),
    Case(
        "inverse-coupling-context-3",
        lambda: T.AffineCoupling(3, masks.alternating(3), context=2).inv,
        (3,),
        context=2,
    ),
    # images (C, H, W)
    Case("squeeze-2x4x4", lambda: T.Squeeze((2, 4, 4)), (2, 4, 4), latent_shape=(8, 2, 2)),
    Case("flatten-2x2x2", lambda: T.Flatten((2, 2, 2)), (2, 2, 2), latent_shape=(8,)),
    Case("conv1x1-lu-3x2x2", lambda: T.Conv1x1((3, 2, 2)), (3, 2, 2)),
    Case("conv1x1-plain-3x2x2", lambda: T.Conv1x1((3, 2, 2), lu=False), (3, 2, 2), scale=0.3),
    Case(
        "conv-coupling-affine-checkerboard-2x4x4",
        lambda: T.ConvCoupling(masks.checkerboard((2, 4, 4)), channels=8, blocks=1),
        (2, 4, 4),
        scale=0.1,
    ),
    Case(
        "conv-coupling-additive-channel-2x4x4",
        lambda: T.ConvCoupling(masks.channel((2, 4, 4)), "additive", channels=8, blocks=1),
        (2, 4, 4),
        scale=0.1,
    ),
    Case(
        "conv-coupling-affine-context-2x4x4",
        lambda: T.ConvCoupling(
            masks.checkerboard((2, 4, 4), False), channels=8, blocks=1, context_channels=1
        ),
        (2, 4, 4),
        context=16,
        scale=0.1,
    ),
    Case(
        "multiscale-learned-2x4x4",
        lambda: _multiscale("learned"),
        (2, 4, 4),
        latent_shape=(32,),
        scale=0.1,
    ),
    Case(
        "multiscale-standard-2x4x4",
        lambda: _multiscale("standard"),
        (2, 4, 4),
        latent_shape=(32,),
        scale=0.1,
    ),
]


def randomise(
    module: torch.nn.Module,
    scale: float = 1.0,
    generator: torch.Generator | None = None,
    replace: bool = False,
) -> torch.nn.Module:
    """Moves every parameter away from its (often identity) initialisation: adds
    scale * N(0, 1) noise to it, or with `replace` sets it to that noise. Returns `module`."""
    with torch.no_grad():
        for p in module.parameters():
            noise = scale * torch.randn(p.shape, generator=generator, dtype=p.dtype)
            noise = noise.to(p.device)
            p.copy_(noise) if replace else p.add_(noise)
    return module


def make(case: Case, batch: tuple[int, ...] = (7,), seed: int = 0):
    """Builds the case's transform in DTYPE (float64 unless --dtype) on DEVICE with
    parameters moved away from their (identity) initialisation, in eval mode; returns
    (transform, x, context). Random draws are made on the CPU in float64, then moved, so
    every device and dtype sees the same values."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # constructors with random initialisation
    t = case.build().double()
    warmup = case.data((64, *case.shape), g)
    warmup_context = _context(case, (64,), g)
    t, warmup = t.to(DEVICE), warmup.to(DEVICE)
    warmup_context = None if warmup_context is None else warmup_context.to(DEVICE)
    with torch.no_grad():
        t.train()
        for _ in range(3):  # data-dependent initialisation and running statistics
            t(warmup, warmup_context)
    randomise(t, case.scale, g)
    t.to(DTYPE).eval()
    x, context = case.data((*batch, *case.shape), g), _context(case, batch, g)
    return t, x.to(DEVICE, DTYPE), None if context is None else context.to(DEVICE, DTYPE)


def _context(case: Case, batch: tuple[int, ...], g: torch.Generator) -> Tensor | None:
    if not case.context:
        return None
    return torch.randn((*batch, case.context), generator=g, dtype=torch.float64)


def ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]
