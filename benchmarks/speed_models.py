"""The speed benchmark's cases: one architecture built in each library (and as a plain
PyTorch floor), behind one small interface, so the harness times the same thing in each.

A `Model` holds the module (for its parameters and optimizer), `log_prob(x)`, `sample(n)`,
and for the variational case `sample_and_log_prob(n)`. A builder that the library cannot
express is absent from the case: the table says n/a.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from compare import PEERS
from torch import Tensor, nn

import bijective as bj
from bijective.transforms import (
    AffineCoupling,
    Autoregressive,
    Compose,
    Coupling,
    Permutation,
    Planar,
    SplineTransformer,
    masks,
)

HIDDEN = 128
DROPOUT = 0.0  # the MAF builders' conditioner dropout (zuko's MADE has none)
# Compiled peers that bring the process down (checked in separate processes, torch 2.13
# CPU): zuko's RealNVP under torch.compile aborts with heap corruption ("double free or
# corruption", "munmap_chunk(): invalid pointer") in its first training steps, at D=8 and
# D=64. Those rows are left out of the table, and its notes say so.
COMPILE_CRASHES = {("zuko", "RealNVP")}
BINS = 8
BOUND = 5.0
# nflows' and normflows' spline MADE layer: one plain block of 2 x 128, linear tails.
SPLINE_MADE = dict(
    num_bins=BINS, tails="linear", tail_bound=BOUND, num_blocks=1, use_residual_blocks=False
)


@dataclass
class Model:
    module: nn.Module
    log_prob: Callable[[Tensor], Tensor] | None
    sample: Callable[[int], Tensor] | None
    sample_and_log_prob: Callable[[int], tuple[Tensor, Tensor]] | None = None


@dataclass
class Case:
    name: str
    features: int
    batch: int
    builders: dict[str, Callable[[int], Model]]
    variational: bool = False  # the training step is a reverse-KL step on `energy`
    defaults: bool = False  # out of the box: each library's defaults, architectures differ


def _bj(flow: bj.Flow) -> Model:
    return Model(
        flow,
        flow.log_prob,
        lambda n: flow.sample((n,)),
        lambda n: flow.sample_and_log_prob((n,)),
    )


def compiled(build: Callable[[int], Model]) -> Callable[[int], Model]:
    """Our model with its density (or, for variational cases, sample_and_log_prob) passed
    through torch.compile; sampling stays eager (the sequential solve does not compile)."""

    def make(d: int) -> Model:
        model = build(d)
        return Model(
            model.module,
            torch.compile(model.log_prob),
            None,
            torch.compile(model.sample_and_log_prob),
        )

    return make


def _nflows(transforms: list, d: int) -> Model:
    from nflows.distributions import StandardNormal
    from nflows.flows import Flow
    from nflows.transforms import CompositeTransform

    flow = Flow(CompositeTransform(transforms), StandardNormal([d]))
    return Model(flow, flow.log_prob, flow.sample, flow.sample_and_log_prob)


def _zuko(flow: nn.Module) -> Model:
    return Model(
        flow,
        lambda x: flow().log_prob(x),
        lambda n: flow().sample((n,)),
        lambda n: flow().rsample_and_log_prob((n,)),
    )


def _normflows(flows: list, d: int) -> Model:
    import normflows as nf

    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(d, trainable=False), flows)
    return Model(model, model.log_prob, lambda n: model.sample(n)[0], model.sample)


def _interleave(layers: list, mix: Callable[[], object]) -> list:
    out = []
    for i, layer in enumerate(layers):
        if i:
            out.append(mix())
        out.append(layer)
    return out


# --- MAF: 5 affine MADE layers (2 x 128), reversing the order between layers ---------------


def maf_bj(d: int) -> Model:
    return _bj(bj.flows.MAF(d, transforms=5, hidden=(HIDDEN, HIDDEN), dropout=DROPOUT))


def maf_nflows(d: int) -> Model:
    from nflows.transforms import MaskedAffineAutoregressiveTransform, ReversePermutation

    layers = [
        MaskedAffineAutoregressiveTransform(
            features=d,
            hidden_features=HIDDEN,
            num_blocks=1,
            use_residual_blocks=False,
            dropout_probability=DROPOUT,
        )
        for _ in range(5)
    ]
    return _nflows(_interleave(layers, lambda: ReversePermutation(d)), d)


def maf_zuko(d: int) -> Model:
    import zuko

    return _zuko(zuko.flows.MAF(d, transforms=5, hidden_features=(HIDDEN, HIDDEN)))


def maf_normflows(d: int) -> Model:
    import normflows as nf

    # normflows lists flows in the sampling direction, and its MADE layer is fast that way:
    # Reverse makes it a MAF (fast density), the architecture the other rows build.
    layers = [
        nf.flows.Reverse(
            nf.flows.MaskedAffineAutoregressive(
                d, HIDDEN, num_blocks=1, use_residual_blocks=False, dropout_probability=DROPOUT
            )
        )
        for _ in range(5)
    ]
    return _normflows(_interleave(layers, lambda: nf.flows.Permute(d, mode="swap")), d)


def maf_normflows_reversed(d: int) -> Model:
    """maf_normflows with a reversal between layers in place of normflows' half swap (a
    Permute whose permutation is set to D-1 .. 0): the ordering the other MAF rows use."""
    import normflows as nf

    def reverse() -> nn.Module:
        mix = nf.flows.Permute(d, mode="shuffle")
        mix.perm.copy_(torch.arange(d - 1, -1, -1))
        mix.inv_perm.copy_(torch.arange(d - 1, -1, -1))
        return mix

    layers = [
        nf.flows.Reverse(
            nf.flows.MaskedAffineAutoregressive(
                d, HIDDEN, num_blocks=1, use_residual_blocks=False, dropout_probability=DROPOUT
            )
        )
        for _ in range(5)
    ]
    return _normflows(_interleave(layers, reverse), d)


class _ContextFree(nn.Module):
    """nflows' couplings call net(x, context); its MLP takes x alone."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.net(x)


def _nflows_mlp(i: int, o: int) -> nn.Module:
    from nflows.nn.nets import MLP

    return _ContextFree(MLP((i,), (o,), hidden_sizes=[HIDDEN, HIDDEN]))


# --- RealNVP: 8 affine couplings, MLP 2 x 128, alternating masks ----------------------------


def realnvp_bj(d: int) -> Model:
    layers = [
        AffineCoupling(d, masks.alternating(d, even=i % 2 == 0), hidden=(HIDDEN, HIDDEN))
        for i in range(8)
    ]
    return _bj(bj.Flow(Compose(*layers), bj.distributions.StandardNormal(d)))


def realnvp_nflows(d: int) -> Model:
    from nflows.transforms import AffineCouplingTransform

    layers = [AffineCouplingTransform(torch.arange(d) % 2 == i % 2, _nflows_mlp) for i in range(8)]
    return _nflows(layers, d)


def realnvp_zuko(d: int) -> Model:
    import zuko

    return _zuko(zuko.flows.RealNVP(d, transforms=8, hidden_features=(HIDDEN, HIDDEN)))


def realnvp_normflows(d: int) -> Model:
    import normflows as nf

    layers = [
        nf.flows.AffineCouplingBlock(nf.nets.MLP([d // 2, HIDDEN, HIDDEN, d], init_zeros=True))
        for _ in range(8)
    ]
    return _normflows(_interleave(layers, lambda: nf.flows.Permute(d, mode="swap")), d)


# --- NSF: 5 rational-quadratic spline layers, 8 bins on [-5, 5], linear tails ----------------


def nsf_bj(d: int) -> Model:
    layers = [Autoregressive(d, SplineTransformer(BINS, BOUND), (HIDDEN, HIDDEN)) for _ in range(5)]
    layers = _interleave(layers, lambda: Permutation.reverse(d))
    return _bj(bj.Flow(Compose(*layers), bj.distributions.StandardNormal(d)))


def nsf_nflows(d: int) -> Model:
    from nflows.transforms import (
        MaskedPiecewiseRationalQuadraticAutoregressiveTransform,
        ReversePermutation,
    )

    layers = [
        MaskedPiecewiseRationalQuadraticAutoregressiveTransform(
            features=d, hidden_features=HIDDEN, **SPLINE_MADE
        )
        for _ in range(5)
    ]
    return _nflows(_interleave(layers, lambda: ReversePermutation(d)), d)


def nsf_zuko(d: int) -> Model:
    import zuko

    return _zuko(zuko.flows.NSF(d, transforms=5, bins=BINS, hidden_features=(HIDDEN, HIDDEN)))


def nsf_normflows(d: int) -> Model:
    import normflows as nf
    from normflows.flows.neural_spline.autoregressive import (
        MaskedPiecewiseRationalQuadraticAutoregressive,
    )

    layers = [
        nf.flows.Reverse(MaskedPiecewiseRationalQuadraticAutoregressive(d, HIDDEN, **SPLINE_MADE))
        for _ in range(5)
    ]
    return _normflows(_interleave(layers, lambda: nf.flows.Permute(d, mode="swap")), d)


# --- NSF coupling: 5 spline couplings on alternating halves, MLP 2 x 128 ---------------------


def nsf_coupling_bj(d: int) -> Model:
    layers = [
        Coupling(
            masks.half(d, first=i % 2 == 0), SplineTransformer(BINS, BOUND), hidden=(HIDDEN,) * 2
        )
        for i in range(5)
    ]
    return _bj(bj.Flow(Compose(*layers), bj.distributions.StandardNormal(d)))


def nsf_coupling_nflows(d: int) -> Model:
    from nflows.transforms import PiecewiseRationalQuadraticCouplingTransform

    layers = [
        PiecewiseRationalQuadraticCouplingTransform(
            (torch.arange(d) < d // 2) == (i % 2 == 0),
            _nflows_mlp,
            num_bins=BINS,
            tails="linear",
            tail_bound=BOUND,
        )
        for i in range(5)
    ]
    return _nflows(layers, d)


def nsf_coupling_zuko(d: int) -> Model:
    import zuko

    # zuko's coupling spline flow: the NSF with two passes (a coupling of the halves).
    return _zuko(
        zuko.flows.NSF(d, transforms=5, bins=BINS, passes=2, hidden_features=(HIDDEN, HIDDEN))
    )


# --- Planar: K = 32 layers in the sampling direction, reverse KL to the energy U1 -------------


def energy(z: Tensor) -> Tensor:
    """Rezende & Mohamed's U1 as an unnormalised log density log p~(z) = -U1(z)."""
    radius = ((z.norm(dim=-1) - 2) / 0.4) ** 2 / 2
    modes = torch.stack([-(((z[..., 0] - 2) / 0.6) ** 2) / 2, -(((z[..., 0] + 2) / 0.6) ** 2) / 2])
    return torch.logsumexp(modes, 0) - radius


def planar_bj(d: int) -> Model:
    # Planar's cheap direction is x -> x + u h(w.x + b): as the sampling map, use `.inv`.
    return _bj(bj.Flow(Planar(d, layers=32).inv, bj.distributions.StandardNormal(d)))


def planar_normflows(d: int) -> Model:
    import normflows as nf

    model = _normflows([nf.flows.Planar((d,)) for _ in range(32)], d)
    model.log_prob = None  # normflows' planar layer has no inverse
    return model


# --- The floor: the same dense layers in plain PyTorch, no flow logic -------------------------


class Floor(nn.Module):
    """`layers` MLPs (in -> 128 -> 128 -> out, ReLU) applied in sequence, the next input
    being the first `in` outputs; "log_prob" is -x^2/2 summed, sampling the same pass."""

    def __init__(self, layers: int, inputs: int, outputs: int, d: int) -> None:
        super().__init__()
        self.d, self.inputs = d, inputs
        self.nets = nn.ModuleList(
            nn.Sequential(
                nn.Linear(inputs, HIDDEN),
                nn.ReLU(),
                nn.Linear(HIDDEN, HIDDEN),
                nn.ReLU(),
                nn.Linear(HIDDEN, outputs),
            )
            for _ in range(layers)
        )

    def forward(self, x: Tensor) -> Tensor:
        for net in self.nets:
            if self.inputs == self.d:
                x = net(x)[:, : self.d]
            else:
                x = torch.cat([x[:, self.inputs :], net(x[:, : self.inputs])[:, : self.inputs]], -1)
        return -0.5 * x.square().sum(-1)


def floor(layers: int, inputs: Callable[[int], int], params: int) -> Callable[[int], Model]:
    def build(d: int) -> Model:
        net = Floor(layers, inputs(d), inputs(d) * params, d)
        return Model(net, net, lambda n: net(torch.randn(n, d)))

    return build


class PlanarFloor(nn.Module):
    """32 steps x <- x + u tanh(w.x + b) with no log-det: the arithmetic of the flow alone."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.u = nn.Parameter(torch.randn(32, d) / math.sqrt(d))
        self.w = nn.Parameter(torch.randn(32, d) / math.sqrt(d))
        self.b = nn.Parameter(torch.zeros(32))

    def forward(self, x: Tensor) -> Tensor:
        for u, w, b in zip(self.u, self.w, self.b, strict=True):
            x = x + torch.tanh(x @ w + b)[:, None] * u
        return x


def planar_floor(d: int) -> Model:
    net = PlanarFloor(d)

    def sample_and_log_prob(n: int) -> tuple[Tensor, Tensor]:
        z = torch.randn(n, d)
        return net(z), -0.5 * z.square().sum(-1)

    return Model(net, None, lambda n: net(torch.randn(n, d)), sample_and_log_prob)


SPLINE_PARAMS = 3 * BINS - 1


# --- Each peer's model as its documentation builds it (the out-of-the-box tables) ----------
# The task's depth and width (5 layers, HIDDEN), otherwise the library's own defaults:
# nflows' and normflows' MADE layers keep their 2 residual blocks, zuko its plain MADE.


def nsf_defaults_nflows(d: int) -> Model:
    from nflows.transforms import (
        MaskedPiecewiseRationalQuadraticAutoregressiveTransform,
        ReversePermutation,
    )

    layers = [
        MaskedPiecewiseRationalQuadraticAutoregressiveTransform(
            features=d, hidden_features=HIDDEN, num_bins=BINS, tails="linear", tail_bound=BOUND
        )
        for _ in range(5)
    ]
    return _nflows(_interleave(layers, lambda: ReversePermutation(d)), d)


def nsf_defaults_normflows(d: int) -> Model:
    import normflows as nf

    # normflows' README: its autoregressive spline layer (2 residual blocks) + LU permutations.
    layers = [nf.flows.AutoregressiveRationalQuadraticSpline(d, 2, HIDDEN) for _ in range(5)]
    return _normflows(_interleave(layers, lambda: nf.flows.LULinearPermute(d)), d)


def maf_defaults_nflows(d: int) -> Model:
    from nflows.flows import MaskedAutoregressiveFlow

    flow = MaskedAutoregressiveFlow(d, HIDDEN, num_layers=5, num_blocks_per_layer=2)
    return Model(flow, flow.log_prob, flow.sample, flow.sample_and_log_prob)


def maf_defaults_normflows(d: int) -> Model:
    import normflows as nf

    layers = [nf.flows.Reverse(nf.flows.MaskedAffineAutoregressive(d, HIDDEN)) for _ in range(5)]
    return _normflows(_interleave(layers, lambda: nf.flows.Permute(d, mode="swap")), d)


def nsf_defaults_bj(d: int) -> Model:
    return _bj(bj.flows.NSF(d, transforms=5, bins=BINS, hidden=(HIDDEN, HIDDEN)))


def cases(compile_ours: bool = False, peers_compiled: bool = False) -> list[Case]:
    """The equal-architecture cases: (name, D, batch, ours, nflows, zuko, normflows, floor),
    None where a library cannot build the architecture; with `compile_ours`, our model under
    torch.compile too, and with `peers_compiled` each peer also (its log_prob and
    sample_and_log_prob, as ours). Then the out-of-the-box cases: each library's documented
    model at the same depth and width (its own defaults otherwise)."""
    full = lambda d: d  # noqa: E731
    half = lambda d: d // 2  # noqa: E731
    table = [
        *(
            (f"MAF D={d}", d, 512, maf_bj, maf_nflows, maf_zuko, maf_normflows, floor(5, full, 2))
            for d in (8, 64)
        ),
        *(
            (f"RealNVP D={d}", d, 512, realnvp_bj, realnvp_nflows, realnvp_zuko)
            + (realnvp_normflows, floor(8, half, 2))
            for d in (8, 64)
        ),
        ("NSF autoregressive D=8", 8, 512, nsf_bj, nsf_nflows, nsf_zuko, nsf_normflows)
        + (floor(5, full, SPLINE_PARAMS),),
        ("NSF coupling D=8", 8, 512, nsf_coupling_bj, nsf_coupling_nflows, nsf_coupling_zuko)
        + (None, floor(5, half, SPLINE_PARAMS)),
        ("Planar K=32 D=2 (reverse KL)", 2, 4096, planar_bj, None, None, planar_normflows)
        + (planar_floor,),
    ]
    out = []
    for name, d, batch, ours, nflows, zuko, normflows, floor_ in table:
        found = {"bijective": ours, "nflows": nflows, "zuko": zuko, "normflows": normflows}
        found |= {"bijective+compile": compiled(ours) if compile_ours else None, "floor": floor_}
        if peers_compiled:
            found |= {
                f"{k}+compile": compiled(found[k])
                for k in PEERS
                if found[k] is not None and (k, name.split()[0]) not in COMPILE_CRASHES
            }
        builders = {k: v for k, v in found.items() if v is not None}
        out.append(Case(name, d, batch, builders, variational=name.startswith("Planar")))
    defaults = [
        (f"MAF D={d}", d, maf_bj, maf_defaults_nflows, maf_zuko, maf_defaults_normflows)
        for d in (8, 64)
    ]
    defaults.append(
        ("NSF autoregressive D=8", 8, nsf_defaults_bj, nsf_defaults_nflows, nsf_zuko)
        + (nsf_defaults_normflows,)
    )
    for name, d, *builders in defaults:
        found = dict(zip(("bijective", *PEERS), builders, strict=True))
        out.append(Case(f"{name} (defaults)", d, 512, found, defaults=True))
    return out
