"""Image flows on digits (1 x 8 x 8, 17 levels) and Fashion-MNIST (1 x 28 x 28, 256 levels,
from the Debian package): RealNVP and Glow, each with uniform and with variational
(Flow++) dequantization on the same model and budget, from configs/images/*.yaml through
bj.train's experiment and loop. Reported: test bits/dim of the dequantization bound (one
draw per image) and of the importance-weighted bound (train.importance_samples draws);
sample grids at temperatures 1.0 and 0.7 and a latent interpolation between test images
(copied to results/images_*.png). Short CPU runs (the steps are in the table); for speed
on CPU, validation uses the first 500 validation images and the test figures the first
`--test` test images (all 359 for digits).

    python benchmarks/images.py [--data digits fashion-mnist] [--test 1000] [--set k=v]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
from pathlib import Path

import torch
from report import RESULTS, save

import bijective.train as T

CONFIGS = Path(__file__).parent.parent / "configs" / "images"


def first(split, n: int):
    labels = None if split.labels is None else split.labels[:n]
    return dataclasses.replace(split, x=split.x[:n], labels=labels)


def run(name: str, n_test: int, out: Path, overrides: list[str]) -> dict:
    config = T.load_config(CONFIGS / f"{name}.yaml", overrides)
    experiment = T.build(config)
    data = experiment.data
    experiment.data = dataclasses.replace(
        data, val=first(data.val, 500), test=first(data.test, n_test)
    )
    out.mkdir(parents=True)
    with torch.no_grad():  # ActNorm's data-dependent initialisation on a larger batch
        experiment.model.log_prob(experiment.inputs(data.train.x[:256]))
    progress = T.fit(
        experiment.model,
        experiment.loss,
        experiment.draw,
        experiment.validate,
        config.train,
        out,
        log=lambda _: None,
        metric=experiment.metric,
    )
    results = experiment.results(progress) | {"test_images": len(experiment.data.test)}
    experiment.write_plots(out)
    for plot in ("samples_T1.0", "samples_T0.7", "interpolation"):
        shutil.copy(out / "plots" / f"{plot}.png", RESULTS / f"images_{name}_{plot}.png")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", nargs="+", default=["digits", "fashion-mnist"])
    parser.add_argument("--test", type=int, default=1000, help="test images used")
    parser.add_argument("--set", action="append", default=[], help="config override (smoke runs)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for data in args.data:
            for model in ("realnvp", "glow"):
                for deq in ("uniform", "variational"):
                    name = f"{data}-{model}-{deq}"
                    rows.append(run(name, args.test, Path(runs) / name, args.set))
                    print(rows[-1], flush=True)
                    write(rows)  # after every run: an interrupted benchmark keeps its rows


def write(rows: list[dict]) -> None:
    header = [
        "data",
        "model",
        "dequantization",
        "steps (best)",
        "test bits/dim: bound",
        "importance-weighted",
        "test images",
        "parameters",
        "train s",
    ]
    cells = [
        [
            r["data"],
            r["model"],
            r["dequantization"],
            f"{r['steps']} ({r['best_step']})",
            f"{r['test_bits_per_dim']:.3f}",
            f"{r['test_bits_per_dim_iw']:.3f} (K={r['importance_samples']})",
            f"{r['test_images']}",
            f"{r['parameters']:,}",
            f"{r['train_seconds']:.0f}",
        ]
        for r in rows
    ]
    save("images", {"configs": "configs/images", "validation_images": 500}, rows, header, cells)


if __name__ == "__main__":
    main()
