"""Residual and continuous flows beside the peers that have these families (normflows'
Residual Flow, zuko's CNF) and beside coupling and autoregressive flows.

Every model trains with Adam (lr 2e-3, batch 512, constant rate) in one loop, then is
scored on the test split in eval mode: ours with the exact log-det (the full Jacobian of
each residual block, the exact trace along the ODE), normflows' Residual Flow with its
brute-force 2-D determinant (on digits its estimator with 20 exact terms), zuko's CNF with
its exact trace. normflows' Lipschitz constraint is enforced as its own example does, by
`nf.utils.update_lipschitz(model, 50)` after every step, inside the timed loop.

Recipes:
  equal     our FFJORD trains and evaluates with the exact trace at atol 1e-6, rtol 1e-5,
            zuko's CNF's defaults (the same estimator and tolerances); our Residual Flow
            and normflows' at the same blocks, widths and Lipschitz coefficient 0.97
  defaults  each library's constructor defaults (our FFJORD: Hutchinson's estimator in
            training, atol = rtol = 1e-5); it compares defaults

Parts (every run its own process, `--seeds` seeds, 1 thread):
  table   equal wall-clock budget (`--budget` s) on `--sets` (20,000 train / 5,000 test,
          standardised): test NLL (nats), steps, ms per step
  steps   two moons at equal steps (`--steps`), the peers included
  digits  sklearn's digits (uniformly dequantized once, standardised on train), `--budget`
          s each, keeping the weights best on validation

    pip install -e ".[bench]" && python benchmarks/residual.py table --budget 15
    python benchmarks/residual.py steps --steps 300 && python benchmarks/residual.py digits
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from collections.abc import Callable

import torch
from compare import in_process, lower_cell, require, spread
from report import RESULTS, markdown, write
from speed_models import Model, _bj, _normflows, _zuko

import bijective as bj

SETS = ("moons", "circles", "8gaussians", "checkerboard", "pinwheel", "2spirals", "rings")
SETS += ("swissroll",)
LR, BATCH = 2e-3, 512
RECIPE = "equal"  # set by the worker: "equal" or "defaults"
PAIRS = {"ResidualFlow": "normflows Residual", "FFJORD": "zuko CNF"}


def resflow(d: int) -> Model:
    blocks, hidden = (20, (32, 32)) if d == 2 else (8, (128, 128))
    return _bj(bj.flows.ResidualFlow(d, blocks=blocks, hidden=hidden))


def ffjord(d: int) -> Model:
    hidden = (64, 64, 64) if d == 2 else (128, 128, 128)
    if RECIPE == "defaults":
        return _bj(bj.flows.FFJORD(d, hidden=hidden))
    # zuko's CNF's estimator and tolerances: the exact trace, atol 1e-6, rtol 1e-5.
    return _bj(bj.flows.FFJORD(d, hidden=hidden, trace="exact", atol=1e-6, rtol=1e-5))


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
    return _zuko(zuko.flows.CNF(d, hidden_features=hidden))  # exact trace, atol 1e-6, rtol 1e-5


MODELS: dict[str, Callable[[int], Model]] = {
    "ResidualFlow": resflow,
    "normflows Residual": resflow_normflows,
    "FFJORD": ffjord,
    "zuko CNF": cnf_zuko,
    "MAF": maf,
    "NSF": nsf,
    "RealNVP": realnvp,
}


def after_step(name: str, model: Model) -> Callable[[], None]:
    """What a model's documentation runs after each optimizer step (timed with it)."""
    if name == "normflows Residual":
        import normflows as nf

        return lambda: nf.utils.update_lipschitz(model.module, 50)
    return lambda: None


def fit(
    name: str,
    model: Model,
    train: torch.Tensor,
    seed: int,
    budget: float | None = None,
    steps: int | None = None,
    val: torch.Tensor | None = None,
) -> dict:
    """Adam until `budget` seconds or `steps` steps; the batches seeded. With `val`, the
    validation NLL is taken 10 times along the way (outside the clock) and the best
    weights are kept, as bj.train does."""
    optimizer = torch.optim.Adam(model.module.parameters(), LR)
    constrain = after_step(name, model)
    g = torch.Generator().manual_seed(seed)
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
            constrain()
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


def splits(data: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, float]:
    """(train, test, val or None, offset): digits are dequantized once and standardised,
    and offset turns their NLL into -log P of the integer pixels."""
    if data != "digits":
        loaded = bj.data.load(data)
        return loaded.train.x, loaded.test.x, None, 0.0
    loaded = bj.data.load("digits")
    train, val, test = (
        bj.data.dequantize(split.x, 17, torch.Generator().manual_seed(i))
        for i, split in enumerate((loaded.train, loaded.val, loaded.test))
    )
    mean, std = train.mean(0), train.std(0) + 1e-3
    train, val, test = ((x - mean) / std for x in (train, val, test))
    # -log P(x) of the integers <= -log p(y) + 64 log 17, y = (x + u) / 17 = mean + std * s.
    return train, test, val, std.log().sum().item() + 64 * math.log(17)


def worker(
    data: str, name: str, seed: int, recipe: str, budget: float | None, steps: int | None
) -> dict:
    """One row, trained and scored in this process at 1 thread."""
    global RECIPE
    RECIPE = recipe
    torch.set_num_threads(1)
    train, test, val, offset = splits(data)
    torch.manual_seed(seed)
    model = MODELS[name](train.shape[-1])
    row = {"data": data, "model": name, "seed": seed, "recipe": recipe}
    row["parameters"] = sum(p.numel() for p in model.module.parameters())
    try:
        row |= fit(name, model, train, seed, budget, steps, val) | score(model, test)
        if data == "digits":
            row["test_nll"] = bj.objectives.bits_per_dim(row["test_nll"] + offset, 64)
    except Exception as error:  # a row that fails says why; the table goes on
        row["error"] = f"{type(error).__name__}: {str(error)[:120]}"
    return row


def run_all(part: str, sets: list[str], names: list[str], args: argparse.Namespace) -> list[dict]:
    rows = []
    limit = ["--budget", str(args.budget)] if part != "steps" else ["--steps", str(args.steps)]
    for data in sets:
        for name in names:
            for seed in args.seeds:
                worker_args = ["--worker", data, name, str(seed), args.recipe, *limit]
                rows.append(in_process(__file__, part, *worker_args))
                print(rows[-1], file=sys.stderr, flush=True)
    return rows


def cells(rows: list[dict], data: str, names: list[str], metric: str) -> list[list[str]]:
    """One line per model: its parameters, the metric over seeds (median, min-max), steps,
    ms per step, and against its peer (or, for a peer, against ours)."""
    out = []
    for name in names:
        mine = [r for r in rows if r["data"] == data and r["model"] == name]
        errors = [r["error"] for r in mine if "error" in r]
        good = [r for r in mine if "error" not in r]
        if not good:
            out.append([data, name, f"{mine[0]['parameters']:,}", errors[0], "", "", ""])
            continue
        ours = next((o for o, p in PAIRS.items() if p == name), None)
        versus = ""
        if ours is not None:
            theirs = [
                r["test_nll"]
                for r in rows
                if r["data"] == data and r["model"] == ours and "error" not in r
            ]
            if theirs:
                versus = f"vs {ours}: {lower_cell(theirs, [r['test_nll'] for r in good])}"
        out.append(
            [
                data,
                name,
                f"{good[0]['parameters']:,}",
                spread([r[metric] for r in good], 3)
                + (f"; {len(errors)} failed: {errors[0]}" if errors else ""),
                spread([r["steps"] for r in good], 0),
                spread([1e3 * r["seconds_per_step"] for r in good], 1),
                versus,
            ]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["table", "digits", "steps"])
    parser.add_argument("--budget", type=float, default=15.0)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--recipe", choices=["equal", "defaults"], default="equal")
    parser.add_argument("--sets", nargs="+", default=["moons", "8gaussians", "checkerboard"])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--name", help="results file (default: residual[_PART][_defaults])")
    parser.add_argument("--worker", nargs=4, metavar=("DATA", "MODEL", "SEED", "RECIPE"))
    parser.add_argument("--report", action="store_true", help="re-render results/*.json")
    args = parser.parse_args()
    require("normflows", "zuko")
    if args.worker:
        data, name, seed, recipe = args.worker
        budget = None if args.part == "steps" else args.budget
        steps = args.steps if args.part == "steps" else None
        print(json.dumps(worker(data, name, int(seed), recipe, budget, steps)), flush=True)
        return
    name = args.name or "residual" + ("" if args.part == "table" else f"_{args.part}")
    name += "_defaults" if args.recipe == "defaults" else ""
    if args.report:
        saved = json.loads((RESULTS / f"{name}.json").read_text())
        return report(saved["rows"], saved["meta"], name)
    sets = {"table": args.sets, "steps": ["moons"], "digits": ["digits"]}[args.part]
    rows = run_all(args.part, sets, args.models, args)
    limit = f"{args.steps} steps" if args.part == "steps" else f"{args.budget:g} s of training"
    settings = {"part": args.part, "recipe": args.recipe, "lr": LR, "batch": BATCH}
    settings |= {"seeds": args.seeds, "threads": 1, "limit": limit}
    report(rows, settings, name)


def report(rows: list[dict], settings: dict, name: str) -> None:
    """results/NAME.{json,md}: the table of `rows`, sets and models in the rows' order."""
    sets = list(dict.fromkeys(r["data"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    metric = "test bits/dim" if settings["part"] == "digits" else "test NLL (nats)"
    header = ["data", "model", "parameters", f"{metric}, median (min-max)", "steps"]
    header += ["ms / step", "against its peer (peer - ours)"]
    body = [c for data in sets for c in cells(rows, data, models, "test_nll")]
    recipe = settings["recipe"]
    title = (
        f"{recipe.capitalize()} recipe"
        + (" (compares defaults)" if recipe == "defaults" else "")
        + f": {settings['limit']} per run, {len(settings['seeds'])} seeds, each its own"
        " process, 1 thread"
    )
    keep = ("part", "recipe", "lr", "batch", "seeds", "threads", "limit")
    write(name, {k: settings[k] for k in keep}, rows, f"### {title}\n\n{markdown(header, body)}")


if __name__ == "__main__":
    main()
