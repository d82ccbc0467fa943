"""Rezende & Mohamed 2015 (arXiv:1505.05770), Figure 3: planar flows and NICE-style
additive couplings with K = 2, 8, 32 fitted by reverse KL to the energies U1-U4, each
from its config in configs/vi/ through bj.train. Reports the exact KL(q || p) (200,000
samples, the targets' log Z by quadrature) with its standard error, checks that the KL
falls as K grows for planar flows on every target, and draws the fitted densities beside
the true ones.

    python benchmarks/rezende_fig3.py        # about 15 minutes on 2 cores
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from report import RESULTS, save

import bijective.train as T
from bijective import viz

CONFIGS = Path(__file__).parent.parent / "configs" / "vi"
TARGETS, KS, FAMILIES = ("u1", "u2", "u3", "u4"), (2, 8, 32), ("planar", "nice")


def main() -> None:
    torch.set_num_threads(2)
    rows, models = [], {}
    with tempfile.TemporaryDirectory() as runs:
        for target in TARGETS:
            for family in FAMILIES:
                for k in KS:
                    name = f"{target}-{family}-{k}"
                    config = T.load_config(CONFIGS / f"{name}.yaml")
                    results = T.train(config, Path(runs) / name, log=lambda _: None)
                    models[name] = T.open_run(Path(runs) / name)
                    rows.append({"target": target, "family": family, "K": k, **results})
                    print(
                        f"{name}: KL {results['kl']:.4f} +- {results['kl_stderr']:.4f}", flush=True
                    )
        figure(models)
    header = ["target"] + [f"{f} K={k}" for f in FAMILIES for k in KS] + ["planar: falls with K"]
    cells, by = [], {(r["target"], r["family"], r["K"]): r for r in rows}
    for target in TARGETS:
        kls = [by[target, "planar", k]["kl"] for k in KS]
        falls = all(a > b for a, b in zip(kls, kls[1:], strict=False))
        cell = [target.upper()]
        for family in FAMILIES:
            for k in KS:
                r = by[target, family, k]
                cell.append(f"{r['kl']:.3f} ± {r['kl_stderr']:.3f}")
        cells.append(cell + ["yes" if falls else "NO"])
    settings = {"kl_samples": 200_000, "configs": "configs/vi/{target}-{family}-{K}.yaml"}
    save("rezende_fig3", settings, rows, header, cells)


def figure(models: dict) -> None:
    """Rows U1-U4; columns: the true density, then each model's density."""
    plt = viz._pyplot()
    columns = [(f, k) for f in FAMILIES for k in KS]
    fig, axes = plt.subplots(len(TARGETS), 1 + len(columns), figsize=(2 * (1 + len(columns)), 8))
    for i, target in enumerate(TARGETS):
        experiment = models[f"{target}-planar-2"]
        truth = experiment.target
        viz.density_panel(axes[i, 0], truth.normalized_log_prob, truth.view, 150, "true" * (i == 0))
        axes[i, 0].set_ylabel(target.upper())
        for j, (family, k) in enumerate(columns, 1):
            flow = models[f"{target}-{family}-{k}"].model
            title = f"{family} K={k}" if i == 0 else ""
            viz.density_panel(axes[i, j], flow.log_prob, truth.view, 150, title)
    viz._save(fig, RESULTS / "rezende_fig3.png")


if __name__ == "__main__":
    main()
