"""Digits (sklearn, 8x8, 64 dimensions, integers 0..16): test bits/dim of the shipped
configs configs/digits-{nsf,maf,realnvp}.yaml trained with bj.train (uniform
dequantization, logit(0.05 + 0.9 y) and ActNorm inside the flow, conditioner dropout 0.2,
lr 2e-4, early stopping on validation NLL), beside a full-covariance Gaussian fitted to
the dequantized training data. Split: 80/20 train/test, 15% of train for validation.
bits/dim = (NLL_y + 64 ln 17) / (64 ln 2) with y = (x + u) / 17. Established libraries:
NSF about 2.04 and MAF about 2.20 at their best checkpoints; a Gaussian 2.98.

    pip install -e .[bench] && python benchmarks/digits.py [--models nsf maf realnvp]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import torch
from report import save

import bijective as bj
import bijective.train as T

CONFIGS = Path(__file__).parents[1] / "configs"
MODELS = {
    "nsf": ("NSF autoregressive (5 x 8 bins, 2x128)", 2.05),
    "maf": ("MAF (5 x MADE 2x384)", 2.20),
    "realnvp": ("RealNVP (8 couplings, 2x320)", None),
}


def gaussian_row() -> dict:
    data = bj.data.load("digits")
    g = torch.Generator().manual_seed(0)
    train = bj.data.dequantize(data.train.x, 17, g)
    test = bj.data.dequantize(data.test.x, 17, torch.Generator().manual_seed(2))  # as bj.train
    gaussian = torch.distributions.MultivariateNormal(train.mean(0), torch.cov(train.T))
    nll = -gaussian.log_prob(test).mean().item()
    return {
        "model": "full-covariance Gaussian",
        "parameters": 64 + 64 * 65 // 2,
        # -log P(x) of the integer pixels = the density's NLL + D log L (uniform dequantization).
        "test_bits_per_dim": round(bj.objectives.bits_per_dim(nll + 64 * math.log(17), 64), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    chosen = parser.parse_args().models
    torch.set_num_threads(2)
    rows = [gaussian_row()]
    print(rows[0], flush=True)
    for key in chosen:
        name, target = MODELS[key]
        config = T.load_config(CONFIGS / f"digits-{key}.yaml")
        with tempfile.TemporaryDirectory() as run_dir:
            results = T.train(config, run_dir, log=lambda _: None)
        row = {**results, "model": name, "config": f"configs/digits-{key}.yaml", "target": target}
        print(row, flush=True)
        rows.append(row)
    save(
        "digits",
        {
            "split": "80/20, 15% of train for validation",
            "trainer": "bijective.train",
            "configs": "configs/digits-*.yaml",
        },
        rows,
        [
            "model",
            "parameters",
            "test bits/dim",
            "val bits/dim",
            "target",
            "best step",
            "steps run",
            "seconds",
        ],
        [
            [
                r["model"],
                f"{r['parameters']:,}",
                f"{r['test_bits_per_dim']:.3f}",
                f"{r['val_bits_per_dim']:.3f}" if "val_bits_per_dim" in r else "",
                "" if r.get("target") is None else f"<= {r['target']}",
                str(r.get("best_step", "")),
                str(r.get("steps", "")),
                str(r.get("train_seconds", "")),
            ]
            for r in rows
        ],
    )


if __name__ == "__main__":
    main()
