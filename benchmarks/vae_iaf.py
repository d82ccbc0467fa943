"""Why the IAF posterior does not beat the diagonal one on the MNIST subset (issue 14):
the diagonal and IAF-4 VAE configs (configs/vae/) trained for 5,000 (their budget) and
20,000 steps, with -ELBO and importance-sampled -log p(x) on the training images as
well as the test images. The gap -ELBO - (-log p) measures how well the posterior fits
p(z | x): a better posterior family shows a smaller gap where it was trained (train),
whatever it does on images it never saw (test).

    python benchmarks/vae_iaf.py [--steps 5000 20000]     # about 15 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

import torch
from report import save

import bijective.train as T
from bijective.data import Split

CONFIGS = Path(__file__).parent.parent / "configs" / "vae"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, nargs="+", default=[5000, 20000])
    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for steps in parser.parse_args().steps:
            for name in ("diagonal", "iaf-4"):
                overrides = [f"train.steps={steps}", "train.importance_samples=200"]
                config = T.load_config(CONFIGS / f"mnist-vae-{name}.yaml", overrides)
                results = T.train(config, Path(runs) / f"{name}-{steps}", log=lambda _: None)
                experiment = T.open_run(Path(runs) / f"{name}-{steps}")
                model, seed = experiment.model, config.data.seed + 2
                train = Split(experiment.data.train.x[:1000])
                elbo = partial(model.elbo, samples=10)
                log_p = partial(model.log_prob, samples=200)
                row = {
                    "posterior": name,
                    "steps": steps,
                    "best_step": results["best_step"],
                    "train_neg_elbo": experiment._mean(train, seed, elbo),
                    "train_nll": experiment._mean(train, seed, log_p),
                    "test_neg_elbo": results["test_neg_elbo"],
                    "test_nll": results["test_nll"],
                    "train_seconds": results["train_seconds"],
                }
                rows.append(row)
                print(row, flush=True)
                write(rows)


def write(rows: list[dict]) -> None:
    header = ["posterior", "steps (best)", "train -ELBO", "train -log p", "train gap",
              "test -ELBO", "test -log p", "test gap"]  # fmt: skip
    cells = [
        [
            r["posterior"],
            f"{r['steps']} ({r['best_step']})",
            f"{r['train_neg_elbo']:.2f}",
            f"{r['train_nll']:.2f}",
            f"{r['train_neg_elbo'] - r['train_nll']:.2f}",
            f"{r['test_neg_elbo']:.2f}",
            f"{r['test_nll']:.2f}",
            f"{r['test_neg_elbo'] - r['test_nll']:.2f}",
        ]
        for r in rows
    ]
    settings = {"data": "mnist subset, train: first 1,000 training images", "iw_samples": 200}
    save("vae_iaf", settings, rows, header, cells)


if __name__ == "__main__":
    main()
