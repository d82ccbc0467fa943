"""Residual and continuous flows beside coupling and autoregressive flows, and beside the
peers that have these families (normflows' Residual Flow, zuko's CNF), in one run.

Every model trains with Adam (lr 2e-3, batch 512, constant rate) in one loop for the same
wall-clock budget, then is scored on the test split in eval mode: ours with the exact
log-det (the full Jacobian of each residual block, the exact trace along the ODE),
normflows' Residual Flow with its brute-force 2-D determinant (on digits its estimator with
20 exact terms), zuko's CNF with its exact trace. Reported: test NLL (nats on the
standardised 2-D sets; bits/dim on digits), steps done, seconds per training step,
seconds to draw 1,000 samples, parameters.

  table   the eight 2-D sets (20,000 train / 5,000 test, standardised), `--budget` s each
  digits  sklearn's digits (uniformly dequantized once, standardised on train), `--budget` s
          each, keeping the weights best on validation (1,222 training rows overfit fast)
  steps   two moons at equal steps instead of equal time (`--steps`, our models only)

    pip install -e ".[bench]" && python benchmarks/residual.py table --budget 15
    python benchmarks/residual.py digits --budget 45 && python benchmarks/residual.py steps
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from collections.abc import Callable

import torch
from report import save
from speed_models import Model, _bj, _normflows, _zuko

import bijective as bj

SETS = ("moons", "circles", "8gaussians", "checkerboard", "pinwheel", "2spirals", "rings")
SETS += ("swissroll",)
LR, BATCH = 2e-3, 512


def resflow(d: int) -> Model:
    blocks, hidden = (20, (32, 32)) if d == 2 else (8, (128, 128))
    return _bj(bj.flows.ResidualFlow(d, blocks=blocks, hidden=hidden))


def ffjord(d: int) -> Model:
    return _bj(bj.flows.FFJORD(d, hidden=(64, 64, 64) if d == 2 else (128, 128, 128)))


def maf(d: int) -> Model:
    return _bj(bj.flows.MAF(d, transforms=5, hidden=(64, 64) if d == 2 else (256, 256)))


def nsf(d: int) -> Model:
    return _bj(bj.flows.NSF(d, transforms=5, bins=8, hidden=(64, 64) if d == 2 else (128, 128)))


def realnvp(d: int) -> Model:
    return _bj(bj.flows.RealNVP(d, transforms=8, hidden=(64, 64) if d == 2 else (256, 256)))


def resflow_normflows(d: int) -> Model:
    """normflows' Residual Flow as its example builds it, with our blocks' sizes."""
    import normflows as nf

    blocks, hidden = (20, [32, 32]) if d == 2 else (8, [128, 128])
    flows = []
    for _ in range(blocks):
        net = nf.nets.LipschitzMLP([d, *hidden, d], init_zeros=True, lipschitz_const=0.97)
        flows += [nf.flows.Residual(net, reduce_memory=True), nf.flows.ActNorm(d)]
    return _normflows(flows, d)


def cnf_zuko(d: int) -> Model:
    import zuko

    hidden = (64, 64, 64) if d == 2 else (128, 128, 128)
    return _zuko(zuko.flows.CNF(d, hidden_features=hidden))


MODELS: dict[str, Callable[[int], Model]] = {
    "ResidualFlow": resflow,
    "FFJORD": ffjord,
    "MAF": maf,
    "NSF": nsf,
    "RealNVP": realnvp,
    "normflows Residual": resflow_normflows,
    "zuko CNF": cnf_zuko,
}


def fit(
    model: Model,
    train: torch.Tensor,
    budget: float | None = None,
    steps: int | None = None,
    val: torch.Tensor | None = None,
) -> dict:
    """Adam until `budget` seconds or `steps` steps; the batches seeded. With `val`, the
    validation NLL is taken 10 times along the way (outside the clock) and the best
    weights are kept, as bj.train does."""
    optimizer = torch.optim.Adam(model.module.parameters(), LR)
    g = torch.Generator().manual_seed(0)
    done, elapsed, skipped, checks = 0, 0.0, 0, 0
    best = (math.inf, 0, None)
    while True:
        model.module.train()
        started = time.perf_counter()
        batch = train[torch.randint(len(train), (BATCH,), generator=g)]
        loss = -model.log_prob(batch).mean() + bj.objectives.penalty(model.module)
        optimizer.zero_grad()
        if torch.isfinite(loss):
            loss.backward()
            optimizer.step()
        else:
            skipped += 1
        done += 1
        elapsed += time.perf_counter() - started
        progress = elapsed / budget if budget is not None else done / steps
        if val is not None and (progress >= (checks + 1) / 10 or progress >= 1):
            checks += 1
            nll = nll_of(model, val)
            if nll < best[0]:
                best = (nll, done, copy.deepcopy(model.module.state_dict()))
        if progress >= 1:
            if best[2] is not None:
                model.module.load_state_dict(best[2])
            kept = {"best_step": best[1], "val_nll": best[0]} if val is not None else {}
            return {"steps": done, "skipped": skipped, "seconds_per_step": elapsed / done} | kept


@torch.no_grad()
def nll_of(model: Model, x: torch.Tensor) -> float:
    """The mean -log p(x) in eval mode (normflows: its exact 2-D determinant)."""
    module = model.module.eval()
    for layer in module.modules():
        if hasattr(layer, "brute_force"):
            layer.brute_force = x.shape[-1] == 2
    return -float(torch.cat([model.log_prob(b) for b in x.split(2500)]).double().mean())


@torch.no_grad()
def score(model: Model, test: torch.Tensor) -> dict:
    started = time.perf_counter()
    nll = nll_of(model, test)
    eval_seconds = time.perf_counter() - started
    started = time.perf_counter()
    samples = model.sample(1000)
    return {
        "test_nll": nll,
        "eval_seconds": round(eval_seconds, 2),
        "sample_seconds": round(time.perf_counter() - started, 3),
        "samples_finite": bool(torch.isfinite(samples).all()),
    }


def run(name: str, d: int, train: torch.Tensor, test: torch.Tensor, **budget: object) -> dict:
    torch.manual_seed(0)
    model = MODELS[name](d)
    row = {"model": name, "parameters": sum(p.numel() for p in model.module.parameters())}
    try:
        row |= fit(model, train, **budget) | score(model, test)
    except Exception as error:  # a row that fails says why; the table goes on
        row["error"] = f"{type(error).__name__}: {str(error)[:120]}"
    print(row, flush=True)
    return row


def cells(row: dict, metric: str = "test_nll") -> list[str]:
    if "error" in row:
        return [row["model"], str(row["parameters"]), row["error"], "", "", ""]
    return [
        row["model"],
        f"{row['parameters']:,}",
        f"{row[metric]:.3f}",
        str(row["steps"]),
        f"{1000 * row['seconds_per_step']:.1f}",
        f"{row['sample_seconds']:.3f}",
    ]


HEADER = ["model", "parameters", "test NLL", "steps", "ms / step", "sample 1,000 (s)"]


def table(budget: float) -> None:
    rows = []
    for data in SETS:
        splits = bj.data.load(data)
        for name in MODELS:
            rows.append({"data": data} | run(name, 2, splits.train.x, splits.test.x, budget=budget))
    save(
        "residual",
        {"budget_seconds": budget, "lr": LR, "batch": BATCH},
        rows,
        ["data", *HEADER],
        [[r["data"], *cells(r)] for r in rows],
    )


def digits(budget: float) -> None:
    splits = bj.data.load("digits")
    g = torch.Generator().manual_seed(0)
    train = bj.data.dequantize(splits.train.x, 17, g)
    val = bj.data.dequantize(splits.val.x, 17, torch.Generator().manual_seed(1))
    test = bj.data.dequantize(splits.test.x, 17, torch.Generator().manual_seed(2))
    mean, std = train.mean(0), train.std(0) + 1e-3
    train, val, test = ((x - mean) / std for x in (train, val, test))
    # -log P(x) of the integers <= -log p(y) + 64 log 17, y = (x + u) / 17 = mean + std * s.
    offset = std.log().sum().item() + 64 * math.log(17)
    rows = []
    for name in MODELS:
        row = run(name, 64, train, test, budget=budget, val=val)
        if "test_nll" in row:
            row["test_bits_per_dim"] = bj.objectives.bits_per_dim(row["test_nll"] + offset, 64)
        rows.append(row)
    header = [*HEADER]
    header[2] = "test bits/dim"
    save(
        "residual_digits",
        {"budget_seconds": budget, "lr": LR, "batch": BATCH},
        rows,
        header,
        [cells(r, "test_bits_per_dim") for r in rows],
    )


def steps(count: int) -> None:
    splits = bj.data.load("moons")
    rows = [
        run(name, 2, splits.train.x, splits.test.x, steps=count)
        for name in ("ResidualFlow", "FFJORD", "MAF", "NSF", "RealNVP")
    ]
    save(
        "residual_steps", {"steps": count, "lr": LR, "batch": BATCH}, rows, HEADER, map(cells, rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["table", "digits", "steps"])
    parser.add_argument("--budget", type=float, default=15.0)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.part == "table":
        table(args.budget)
    elif args.part == "digits":
        digits(args.budget)
    else:
        steps(args.steps)


if __name__ == "__main__":
    main()
