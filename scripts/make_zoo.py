"""Builds the pretrained zoo (bijective/zoo_data/NAME) from runs of configs/pretrained/NAME.yaml:

    python scripts/make_zoo.py                  # trains every config into runs/zoo/NAME first
    python scripts/make_zoo.py --runs DIR       # uses DIR/NAME, trained already

Each run's best weights become a bj.save folder, with card.json: the run's config, its
test figures from results.json, training seconds, the machine, and the SHA-256 of
model.safetensors. Run it alone on the machine (the training seconds are recorded).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import torch
import yaml

import bijective as bj
from bijective.zoo import CARD, ZOO, sha256

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("test_nll", "test_bits_per_dim", "test_bits_per_dim_iw", "val_nll", "parameters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="trained runs, DIR/NAME (else train them)")
    args = parser.parse_args()
    for config in sorted((ROOT / "configs" / "pretrained").glob("*.yaml")):
        name = config.stem
        run = (args.runs or ROOT / "runs" / "zoo") / name
        if args.runs is None:
            shutil.rmtree(run, ignore_errors=True)
            command = [sys.executable, "-m", "bijective", "train", str(config), "--out", str(run)]
            subprocess.run(command, check=True)
        folder = ZOO / name
        shutil.rmtree(folder, ignore_errors=True)
        bj.save(run, folder)
        results = json.loads((run / "results.json").read_text())
        card = {
            "name": name,
            "config": yaml.safe_load((run / "config.yaml").read_text()),
            **{k: results[k] for k in FIGURES if k in results},
            "train_seconds": results["train_seconds"],
            "steps": results["steps"],
            "machine": f"{platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} threads, torch {torch.__version__}",
            "sha256": sha256(folder / "model.safetensors"),
        }
        (folder / CARD).write_text(json.dumps(card, indent=1) + "\n")
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{name}: test NLL {card['test_nll']:.4f}, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
