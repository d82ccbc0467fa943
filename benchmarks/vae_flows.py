"""VAEs with flow posteriors (Rezende & Mohamed 2015; Kingma et al. 2016; van den Berg et
al. 2018) on dynamically binarised MNIST (the 5,000-image subset) and digits: the test
-ELBO and -log p(x) (importance sampling, 1,000 draws per image), in nats per image,
against posterior type and number of flow steps K. Each cell is a config in configs/vae/
trained through bj.train (cosine lr, the best validated -ELBO kept); one seed per cell.

    python benchmarks/vae_flows.py [--data mnist digits]     # about 30 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from report import save

import bijective.train as T

CONFIGS = Path(__file__).parent.parent / "configs" / "vae"
GRID = [
    ("diagonal", 0),
    ("planar", 4),
    ("planar", 16),
    ("radial", 4),
    ("radial", 16),
    ("sylvester", 2),
    ("sylvester", 8),
    ("iaf", 1),
    ("iaf", 4),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", nargs="+", default=["digits", "mnist"])
    chosen = parser.parse_args().data
    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for data in chosen:
            for posterior, k in GRID:
                name = f"{data}-vae-{posterior}" + (f"-{k}" if k else "")
                config = T.load_config(CONFIGS / f"{name}.yaml")
                results = T.train(config, Path(runs) / name, log=lambda _: None)
                rows.append(results)
                print(
                    f"{name}: -ELBO {results['test_neg_elbo']:.2f}, "
                    f"-log p(x) {results['test_nll']:.2f} ({results['train_seconds']:.0f} s)",
                    flush=True,
                )
                write(rows)  # after every run: an interrupted benchmark keeps its rows


def write(rows: list[dict]) -> None:
    header = [
        "data",
        "posterior",
        "K",
        "test -ELBO",
        "test -log p(x)",
        "gap",
        "best step",
        "parameters",
    ]
    cells = []
    for r in rows:
        gap = r["test_neg_elbo"] - r["test_nll"]
        cells.append(
            [
                r["data"],
                r["posterior"],
                str(r["flow_steps"]),
                f"{r['test_neg_elbo']:.2f}",
                f"{r['test_nll']:.2f}",
                f"{gap:.2f}",
                f"{r['best_step']} / {r['steps']}",
                f"{r['parameters']:,}",
            ]
        )
    save("vae_flows", {"importance_samples": 1000, "configs": "configs/vae"}, rows, header, cells)


if __name__ == "__main__":
    main()
