"""TarFlow against Glow and MAF on digits (1 x 8 x 8, 17 levels, uniform dequantization,
logit(0.05 + 0.9 y) in front of each flow) at equal parameters and equal training time.

Equal recipe: about 408k parameters each (TarFlow: 4 blocks over 2 x 2 patches,
transformers of width 64, depth 2, 4 heads -- configs/images/digits-tarflow-uniform.yaml;
Glow: 2 scales x 4 steps, 45 channels; MAF: 5 MADE layers 2 x 204 on the 64 pixels, no
dropout; counts printed and required within 5% of TarFlow's), Adam with a cosine schedule
after 100 warm-up steps, batch 64, gradient norm clipped at 10, no early stopping (the best
validation weights are kept), one thread, the same seed and dequantization noise. Each run
trains for the budget's worth of steps (its step time probed first, as in
autoregressive.py). The learning rate is chosen per model on the validation split from
LRS; the test figures of that run are the row's. Reported: test bits/dim by the
dequantization bound (one draw) and by the importance-weighted bound (64 draws).

    python benchmarks/transformer_flows.py [--budget 150] [--lrs 0.0005 0.001]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from autoregressive import seconds_per_step
from report import save

import bijective.train as T

CONFIGS = Path(__file__).parents[1] / "configs"
MODELS = {
    "tarflow": ("TarFlow (4 blocks, 2x2 patches, width 64)", "images/digits-tarflow-uniform", []),
    "glow": ("Glow (2 scales x 4 steps, 45 channels)", "images/digits-glow-uniform",
             ["model.channels=45"]),
    "maf": ("MAF (5 MADE 2x204)", "digits-maf", ["model.hidden=[204,204]", "model.dropout=0.0"]),
}  # fmt: skip
RECIPE = ["train.batch=64", "train.schedule=cosine", "train.warmup=100", "train.clip=10.0",
          "train.patience=null", "train.threads=1", "train.importance_samples=64",
          "train.seed=0"]  # fmt: skip


def config(key: str, lr: float, extra: list[str]) -> T.Config:
    _, path, own = MODELS[key]
    return T.load_config(CONFIGS / f"{path}.yaml", [*own, *RECIPE, f"train.lr={lr}", *extra])


def run(key: str, lr: float, budget: float) -> dict:
    per_step, _ = seconds_per_step(config(key, lr, []))
    steps = max(200, int(budget / per_step))
    every = max(steps // 10, 1)
    chosen = config(key, lr, [f"train.steps={steps}", f"train.eval_every={every}",
                              f"train.checkpoint_every={steps}"])  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        r = T.train(chosen, out, log=lambda _: None)
    return {"key": key, "model": MODELS[key][0], "lr": lr, "seconds_per_step": per_step, **r}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=150.0, help="training seconds per run")
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 1e-3])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    args = parser.parse_args()
    sizes = {k: sum(p.numel() for p in T.build(config(k, 1e-3, [])).model.parameters())
             for k in args.models}  # fmt: skip
    print(sizes, flush=True)
    reference = sizes.get("tarflow", max(sizes.values()))
    assert all(abs(n / reference - 1) <= 0.05 for n in sizes.values()), sizes
    rows = []
    for key in args.models:
        runs = [run(key, lr, args.budget) for lr in args.lrs]
        best = min(runs, key=lambda r: r["val_bits_per_dim"])
        for r in runs:
            rows.append(r | {"chosen": r is best})
            print({k: r[k] for k in ("model", "lr", "steps", "val_bits_per_dim",
                                     "test_bits_per_dim", "train_seconds")}, flush=True)  # fmt: skip
    header = ["model", "parameters", "lr", "steps (best)", "training s", "val bits/dim",
              "test bits/dim", "test bits/dim (64 draws)"]  # fmt: skip
    cells = [
        [r["model"] + (" **chosen**" if r["chosen"] else ""), f"{r['parameters']:,}",
         f"{r['lr']:g}", f"{r['steps']} ({r['best_step']})", f"{r['train_seconds']:.0f}",
         f"{r['val_bits_per_dim']:.4f}", f"{r['test_bits_per_dim']:.4f}",
         f"{r['test_bits_per_dim_iw']:.4f}"]
        for r in rows
    ]  # fmt: skip
    settings = {"budget_s": args.budget, "lrs": args.lrs, "threads": 1, "recipe": RECIPE}
    save("transformer_flows", settings, rows, header, cells)


if __name__ == "__main__":
    main()
