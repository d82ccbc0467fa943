"""TarFlow against Glow and MAF on digits (1 x 8 x 8, 17 levels) and on the MNIST subset
(1 x 28 x 28, 256 levels; 3,600 training images), uniform dequantization and logit(0.05 +
0.9 y) in front of each flow, at equal parameters and equal training time.

Equal recipe: about equal parameters (digits, about 408k: TarFlow with 4 blocks over
2 x 2 patches, transformers of width 64, depth 2, 4 heads -- configs/images/digits-
tarflow-uniform.yaml; Glow 2 scales x 4 steps of 45 channels; MAF 5 MADE layers 2 x 204
on the 64 pixels. MNIST, about 1.6M: TarFlow over 4 x 4 patches, width 128 -- configs/
images/mnist-tarflow-uniform.yaml without its noise augmentation, so that every model's
likelihood is of the same data; Glow of 96 channels; MAF 2 x 128. No dropout; counts
printed and required within 5% of TarFlow's), Adam with a cosine schedule
after 100 warm-up steps, batch 64, gradient norm clipped at 10, no early stopping (the best
validation weights are kept), one thread, the same seed and dequantization noise. Each run
trains for the budget's worth of steps (its step time probed first, as in
autoregressive.py). The learning rate is chosen per model on the validation split from
`--lrs`; the test figures of that run are the row's. Reported: test bits/dim by the
dequantization bound (one draw) and by the importance-weighted bound (64 draws on digits,
16 on MNIST).

    python benchmarks/transformer_flows.py [--budget 150] [--lrs 0.0005 0.001]
    python benchmarks/transformer_flows.py --data mnist --budget 300 --lrs 0.0005
    python benchmarks/transformer_flows.py --data mnist --budget 300 --lrs 0.0001 --models maf
    (a run replaces its (model, lr) row in the results and keeps the others)

-> results/transformer_flows.md (digits), transformer_flows_mnist.md
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from autoregressive import seconds_per_step
from report import RESULTS, save

import bijective.train as T

CONFIGS = Path(__file__).parents[1] / "configs"
MODELS = {  # data -> key -> (row name, config, its overrides)
    "digits": {
        "tarflow": ("TarFlow (4 blocks, 2x2 patches, width 64)", "images/digits-tarflow-uniform",
                    []),
        "glow": ("Glow (2 scales x 4 steps, 45 channels)", "images/digits-glow-uniform",
                 ["model.channels=45"]),
        "maf": ("MAF (5 MADE 2x204)", "digits-maf", ["model.hidden=[204,204]"]),
    },
    "mnist": {
        "tarflow": ("TarFlow (4 blocks, 4x4 patches, width 128)", "images/mnist-tarflow-uniform",
                    ["model.noise=0.0"]),
        "glow": ("Glow (2 scales x 4 steps, 96 channels)", "images/mnist-glow-5bit",
                 ["data.n_bits=8", "model.channels=96"]),
        "maf": ("MAF (5 MADE 2x128)", "mnist-maf", ["model.hidden=[128,128]"]),
    },
}  # fmt: skip
RECIPE = ["train.batch=64", "train.schedule=cosine", "train.warmup=100", "train.clip=10.0",
          "train.patience=null", "train.threads=1", "train.seed=0"]  # fmt: skip
DRAWS = {"digits": 64, "mnist": 16}  # the importance-weighted bound's draws


def config(data: str, key: str, lr: float, extra: list[str]) -> T.Config:
    _, path, own = MODELS[data][key]
    dropout = ["model.dropout=0.0"] if key == "maf" else []
    draws = f"train.importance_samples={DRAWS[data]}"
    return T.load_config(
        CONFIGS / f"{path}.yaml", [*own, *dropout, *RECIPE, draws, f"train.lr={lr}", *extra]
    )


def run(data: str, key: str, lr: float, budget: float) -> dict:
    per_step, _ = seconds_per_step(config(data, key, lr, []))
    steps = max(200, int(budget / per_step))
    every = max(steps // 10, 1)
    chosen = config(data, key, lr, [f"train.steps={steps}", f"train.eval_every={every}",
                                    f"train.checkpoint_every={steps}"])  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        r = T.train(chosen, out, log=lambda _: None)
    name = MODELS[data][key][0]
    return {**r, "key": key, "model": name, "lr": lr, "seconds_per_step": per_step}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=150.0, help="training seconds per run")
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 1e-3])
    parser.add_argument("--data", choices=list(MODELS), default="digits")
    parser.add_argument("--models", nargs="+", choices=["tarflow", "glow", "maf"],
                        default=["tarflow", "glow", "maf"])  # fmt: skip
    args = parser.parse_args()
    sizes = {k: sum(p.numel() for p in T.build(config(args.data, k, 1e-3, [])).model.parameters())
             for k in args.models}  # fmt: skip
    print(sizes, flush=True)
    reference = sizes.get("tarflow", max(sizes.values()))
    assert all(abs(n / reference - 1) <= 0.05 for n in sizes.values()), sizes
    name = "transformer_flows" if args.data == "digits" else f"transformer_flows_{args.data}"
    path = RESULTS / f"{name}.json"  # runs of other models or rates are kept
    rows = json.loads(path.read_text())["rows"] if path.exists() else []
    for key in args.models:
        for lr in args.lrs:
            r = run(args.data, key, lr, args.budget)
            rows = [q for q in rows if (q["key"], q["lr"]) != (key, lr)] + [r]
            print({k: r[k] for k in ("model", "lr", "steps", "val_bits_per_dim",
                                     "test_bits_per_dim", "train_seconds")}, flush=True)  # fmt: skip
    order = ["tarflow", "glow", "maf"]
    rows.sort(key=lambda r: (order.index(r["key"]), r["lr"]))
    for r in rows:  # each model's learning rate: the best on validation
        rivals = [q["val_bits_per_dim"] for q in rows if q["key"] == r["key"]]
        r["chosen"] = r["val_bits_per_dim"] == min(rivals)
    header = ["model", "parameters", "lr", "steps (best)", "training s", "val bits/dim",
              "test bits/dim", f"test bits/dim ({DRAWS[args.data]} draws)"]  # fmt: skip
    cells = [
        [r["model"] + (" **chosen**" if r["chosen"] else ""), f"{r['parameters']:,}",
         f"{r['lr']:g}", f"{r['steps']} ({r['best_step']})", f"{r['train_seconds']:.0f}",
         f"{r['val_bits_per_dim']:.4f}", f"{r['test_bits_per_dim']:.4f}",
         f"{r['test_bits_per_dim_iw']:.4f}"]
        for r in rows
    ]  # fmt: skip
    lrs = sorted({r["lr"] for r in rows})
    settings = {"data": args.data, "budget_s": args.budget, "lrs": lrs, "threads": 1,
                "recipe": RECIPE}  # fmt: skip
    save(name, settings, rows, header, cells)


if __name__ == "__main__":
    main()
