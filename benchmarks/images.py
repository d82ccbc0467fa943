"""Image flows on digits (1 x 8 x 8, 17 levels) and Fashion-MNIST (1 x 28 x 28, 256 levels,
from the Debian package): ImageRealNVP and Glow, each with uniform and with variational
(Flow++) dequantization, on the same budget. Reported: test bits/dim of the dequantization
bound (one draw per image) and of the importance-weighted bound (K draws); sample grids at
temperatures 1.0 and 0.7; a latent interpolation between two test images (encode the
dequantized centres (x + 1/2) / L, interpolate z linearly, decode). The flows see
logit(0.05 + 0.9 y), its log-det counted. Short CPU runs: the step counts are in the table.

    python benchmarks/images.py [--data digits fashion-mnist] [--steps 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from report import RESULTS, save

import bijective as bj
import bijective.train as T
from bijective import viz
from bijective.transforms import dequantization as dq

SETS = {  # name: (steps, batch, channels, importance samples, test images)
    "digits": (3000, 64, 32, 64, 360),
    "fashion-mnist": (1000, 32, 32, 16, 1000),
}


def build(
    model: str, shape: tuple, levels: int, dequantization: str, c: int
) -> bj.flows.DequantizedFlow:
    if model == "glow":
        core = bj.flows.Glow(shape, levels=2, steps=4, channels=c, blocks=1)
    else:
        core = bj.flows.ImageRealNVP(shape, levels=2, channels=c, blocks=1)
    prefix = bj.transforms.Logit(shape, alpha=0.05)
    flow = bj.Flow(bj.transforms.Compose(prefix, core.transform), core.base)
    if dequantization == "uniform":
        dequantizer = dq.UniformDequantization(levels)
    else:
        dequantizer = dq.VariationalDequantization(shape, levels, couplings=4, channels=c)
    return bj.flows.DequantizedFlow(flow, dequantizer, levels)


def bits(model: bj.flows.DequantizedFlow, x: torch.Tensor, samples: int, seed: int) -> float:
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        model.eval()
        total = sum(float(model.bits_per_dim(b, samples).sum()) for b in x.split(100))
        model.train()
    return total / len(x)


def run(data_name: str, model_name: str, dequantization: str, steps: int, out: Path) -> dict:
    default_steps, batch, channels, samples, n_test = SETS[data_name]
    steps = steps or default_steps
    data = bj.data.load(data_name)
    shape, levels = data.image_shape, data.levels
    train = data.train.x.view(-1, *shape)
    val, test = data.val.x.view(-1, *shape)[:500], data.test.x.view(-1, *shape)[:n_test]
    torch.manual_seed(0)
    model = build(model_name, shape, levels, dequantization, channels)
    with torch.no_grad():
        model.log_prob(train[:256])  # ActNorm's data-dependent initialisation

    config = T.TrainConfig(
        steps=steps,
        batch=batch,
        lr=1e-3,
        schedule="cosine",
        warmup=100,
        clip=50.0,
        eval_every=max(steps // 10, 1),
        checkpoint_every=steps,
    )

    def draw(generator: torch.Generator, step: int) -> torch.Tensor:
        return train[torch.randint(len(train), (batch,), generator=generator)]

    started = time.perf_counter()
    progress = T.fit(
        model,
        lambda m, x: m.bits_per_dim(x).mean(),
        draw,
        lambda m: bits(m, val, 1, 1),
        config,
        out,
        log=lambda _: None,
        metric="val_nll",
    )
    seconds = time.perf_counter() - started
    row = {
        "data": data_name,
        "model": model_name,
        "dequantization": dequantization,
        "steps": progress.step,
        "best_step": progress.best_step,
        "train_seconds": round(seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "test_images": len(test),
        "test_bpd_bound": bits(model, test, 1, 2),
        "importance_samples": samples,
        "test_bpd_iw": bits(model, test, samples, 2),
    }
    figures(model, data_name, model_name, dequantization, test, levels)
    return row


def figures(model, data_name, model_name, dequantization, test, levels) -> None:
    stem = f"images_{data_name}_{model_name}_{dequantization}"
    model.eval()
    for t in (1.0, 0.7):
        torch.manual_seed(0)
        grid = model.sample((64,), temperature=t) / (levels - 1)
        viz.image_grid(grid, RESULTS / f"{stem}_T{t}.png", rows=8)
    flow = model.flow
    pairs = test[:8]
    with torch.no_grad():
        z = flow.encode((pairs + 0.5) / levels)
        rows = []
        for a, b in ((0, 1), (2, 3), (4, 5), (6, 7)):
            w = torch.linspace(0, 1, 8)[:, None]
            path = (1 - w) * z[a] + w * z[b]
            rows.append((flow.decode(path) * levels).floor().clamp(0, levels - 1) / (levels - 1))
    viz.image_grid(torch.cat(rows), RESULTS / f"{stem}_interpolation.png", rows=4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", nargs="+", default=list(SETS))
    parser.add_argument("--steps", type=int, default=0, help="override every run's steps")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for data_name in args.data:
            for model_name in ("realnvp", "glow"):
                for deq in ("uniform", "variational"):
                    out = Path(runs) / f"{data_name}-{model_name}-{deq}"
                    out.mkdir()
                    row = run(data_name, model_name, deq, args.steps, out)
                    rows.append(row)
                    print(row, flush=True)
    header = [
        "data",
        "model",
        "dequantization",
        "steps",
        "test bits/dim (bound)",
        "test bits/dim (IW)",
        "parameters",
        "train s",
    ]
    cells = [
        [
            r["data"],
            r["model"],
            r["dequantization"],
            f"{r['steps']}",
            f"{r['test_bpd_bound']:.3f}",
            f"{r['test_bpd_iw']:.3f} (K={r['importance_samples']})",
            f"{r['parameters']:,}",
            f"{r['train_seconds']:.0f}",
        ]
        for r in rows
    ]
    save("images", {"note": "short CPU runs; see steps"}, rows, header, cells)


if __name__ == "__main__":
    main()
