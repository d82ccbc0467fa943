"""The course's planar-flow figure (Rezende & Mohamed 2015, arXiv:1505.05770, Fig. 1):
K = 1, 2 and 10 planar maps x = f_K o ... o f_1 (z) applied to a standard Gaussian base and
to a uniform base on [-1, 1]^2, the density of x drawn exactly (bj.flows.PlanarFlow's
log_prob, which inverts each map by a bracketed root find) on a 300 x 300 grid.

The maps are the first K of one seeded random stack (u, w, b ~ N(0, 1) per entry),
so each column adds maps to the previous one. Also checks each density integrates to 1 on
the grid (printed; the uniform base's edges cost the trapezoid rule about 1%) and writes benchmarks/results/planar_figure.png.

    python benchmarks/planar_figure.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import bijective as bj

OUT = Path(__file__).parent / "results" / "planar_figure.png"
LAYERS = (1, 2, 10)
BOX, N = 4.0, 300


def flows(base: str) -> list[bj.flows.PlanarFlow]:
    """PlanarFlows of 1, 2, 10 maps: prefixes of one random stack of 10."""
    g = torch.Generator().manual_seed(3)
    u, w = torch.randn(2, 10, 2, generator=g, dtype=torch.float64)
    b = torch.randn(10, generator=g, dtype=torch.float64)
    out = []
    for k in LAYERS:
        flow = bj.flows.PlanarFlow(2, layers=k, base=base).double()
        planar = flow.transform.inv  # the K maps, in the sampling direction
        with torch.no_grad():
            planar.u.copy_(u[:k])
            planar.w.copy_(w[:k])
            planar.b.copy_(b[:k])
        out.append(flow)
    return out


def main() -> None:
    grid = torch.linspace(-BOX, BOX, N, dtype=torch.float64)
    points = torch.cartesian_prod(grid, grid).flip(-1)  # (x, y) with y varying slowest
    bases = {"normal": "Gaussian base N(0, I)", "uniform": "uniform base U[-1, 1]^2"}
    fig, axes = plt.subplots(2, 1 + len(LAYERS), figsize=(13, 6.6))
    for row, (base, title) in enumerate(bases.items()):
        base_density = bj.flows.PlanarFlow(2, layers=1, base=base).double().base
        panels = [("base: " + title, base_density.log_prob(points).exp())]
        for k, flow in zip(LAYERS, flows(base), strict=True):
            with torch.no_grad():
                panels.append((f"K = {k}", flow.log_prob(points).exp()))
        for ax, (label, density) in zip(axes[row], panels, strict=True):
            image = density.reshape(N, N)
            mass = float(torch.trapezoid(torch.trapezoid(image, grid, dim=1), grid))
            print(f"{base:8s} {label:32s} integral on the grid {mass:.4f}")
            ax.imshow(
                image,
                extent=(-BOX, BOX, -BOX, BOX),
                origin="lower",
                cmap="viridis",
                norm=matplotlib.colors.PowerNorm(0.5),
            )
            ax.set_title(label, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(
        "Planar flows (Rezende & Mohamed 2015, Fig. 1): the density of x = f_K o ... o f_1(z) "
        "on [-4, 4]^2 (colour: density^0.5)"
    )
    fig.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"wrote benchmarks/results/{OUT.name}")  # no absolute path in committed output


if __name__ == "__main__":
    main()
