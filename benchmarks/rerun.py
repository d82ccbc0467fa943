"""Cells of the committed benchmark tables rerun through the current code (the catalogue,
the experiment kinds, DequantizedFlow for discrete data, the posteriors built from the
transforms), beside the committed figures: what the rebuild of issue 13 changed.

Continuous data, variational inference and image flows run the same computations with the
same random streams as before, so their cells should repeat to the last digit. A flow on
discrete vectors (digits MAF) now draws its dequantization noise from torch's generator
inside DequantizedFlow, and the VAE posteriors are new modules (same sizes, other initial
draws): those cells can only agree within the seed spread.

    python benchmarks/rerun.py [--cells moons-maf ...]     # about 30 minutes on 2 cores
    python benchmarks/rerun.py --cells mnist-vae-iaf-4 --seeds 1 2 --out rerun_seeds

Other seeds (`--seeds`, train.seed) measure the spread the committed one-seed cells lack.
The image cell, like benchmarks/images.py, rewrites that run's sample grids in results/.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import images
import torch
from report import RESULTS, save
from two_moons import moons_config

import bijective.train as T

CONFIGS = Path(__file__).parent.parent / "configs"


def committed(table: str, **match: object) -> dict:
    rows = json.loads((RESULTS / f"{table}.json").read_text())["rows"]
    return next(r for r in rows if all(r.get(k) == v for k, v in match.items()))


def two_moons(model: dict, schedule: str) -> Callable[[Path, int], dict]:
    def train(out: Path, seed: int) -> dict:
        return T.train(moons_config(model, schedule, seed), out, log=lambda _: None)

    return train


def config(path: str) -> Callable[[Path, int], dict]:
    def train(out: Path, seed: int) -> dict:
        config = T.load_config(CONFIGS / path, [f"train.seed={seed}"])
        return T.train(config, out, log=lambda _: None)

    return train


# name -> (what, how to train it, the committed figure, the key of the new one, spread)
CELLS = {
    "moons-maf": (
        "two moons, MAF, constant lr, seed 0: test NLL (nats)",
        two_moons({"name": "maf", "transforms": 5, "hidden": [128, 128]}, "constant"),
        lambda: committed("two_moons", model="MAF (5 x MADE 2x128)", schedule="constant lr")[
            "test_nll_per_seed"
        ][0],
        "test_nll",
        "0.013 (3 seeds)",
    ),
    "moons-nsf-coupling": (
        "two moons, NSF coupling, cosine lr, seed 0: test NLL (nats)",
        two_moons({"name": "nsf", "transforms": 5, "bins": 8, "variant": "coupling"}, "cosine"),
        lambda: committed(
            "two_moons", model="NSF coupling (5 x 8 bins, 2x128)", schedule="cosine lr"
        )["test_nll_per_seed"][0],
        "test_nll",
        "0.001 (3 seeds)",
    ),
    "u1-planar-8": (
        "Figure 3, U1, planar K=8: KL(q || p) (nats)",
        config("vi/u1-planar-8.yaml"),
        lambda: committed("rezende_fig3", name="u1-planar-8")["kl"],
        "kl",
        "one seed",
    ),
    "u3-nice-8": (
        "Figure 3, U3, NICE K=8: KL(q || p) (nats)",
        config("vi/u3-nice-8.yaml"),
        lambda: committed("rezende_fig3", name="u3-nice-8")["kl"],
        "kl",
        "one seed",
    ),
    "digits-glow-uniform": (
        "digits, Glow, uniform dequantization: test bits/dim (bound)",
        lambda out, seed: images.run("digits-glow-uniform", 1000, out, [f"train.seed={seed}"]),
        lambda: committed("images", name="digits-glow-uniform")["test_bits_per_dim"],
        "test_bits_per_dim",
        "one seed",
    ),
    "digits-maf": (
        "digits, MAF (configs/digits-maf.yaml): test bits/dim",
        config("digits-maf.yaml"),
        lambda: committed("digits", name="digits-maf")["test_bits_per_dim"],
        "test_bits_per_dim",
        "one seed",
    ),
}
for _data in ("digits", "mnist"):
    for _name, _k in (("diagonal", 0), ("planar", 16), ("sylvester", 8), ("iaf", 4)):
        _cell = f"{_data}-vae-{_name}" + (f"-{_k}" if _k else "")
        CELLS[_cell] = (
            f"VAE, {_data}, {_name} posterior K={_k}: test -log p(x) (nats)",
            config(f"vae/{_cell}.yaml"),
            lambda cell=_cell: committed("vae_flows", name=cell)["test_nll"],
            "test_nll",
            "one seed",
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="train.seed values")
    parser.add_argument("--out", default="rerun", help="results/OUT.md and OUT.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for cell in args.cells:
            what, train, old, key, spread = CELLS[cell]
            for seed in args.seeds:
                results = train(Path(runs) / f"{cell}-{seed}", seed)
                rows.append(
                    {
                        "cell": cell,
                        "what": what,
                        "seed": seed,
                        "committed": old() if seed == 0 else None,  # committed: seed 0
                        "now": results[key],
                        "spread": spread,
                        "train_seconds": results["train_seconds"],
                    }
                )
                print(rows[-1], flush=True)
                write(rows, args.out)  # after every run: an interrupted one keeps its rows


def write(rows: list[dict], name: str) -> None:
    header = ["cell", "seed", "committed", "now", "difference", "committed seed spread", "train s"]
    cells = [
        [
            r["what"],
            str(r["seed"]),
            "" if r["committed"] is None else f"{r['committed']:.4f}",
            f"{r['now']:.4f}",
            "" if r["committed"] is None else f"{r['now'] - r['committed']:+.4f}",
            r["spread"],
            f"{r['train_seconds']:.0f}",
        ]
        for r in rows
    ]
    save(name, {"script": "benchmarks/rerun.py"}, rows, header, cells)


if __name__ == "__main__":
    main()
