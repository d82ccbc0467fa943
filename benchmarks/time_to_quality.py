"""Time to quality against nflows, zuko and normflows: the training seconds until a model
first meets a target on the test split (evaluation not counted), two tables per task.

Tasks:
  moons-nsf   NSF on two moons (noise 0.05; 20,000 / 5,000 / 5,000 points, standardised on
              train): test NLL <= 1.16 nats
  digits-maf  MAF on sklearn's digits (uniformly dequantized, logit(0.05 + 0.9 y)): test
              bits/dim <= 2.20 (-log P of the integer pixels by the dequantization bound)

Equal recipe (answers "is the code faster"): the same architecture in every library
(moons: 5 autoregressive spline layers, 8 bins on [-5, 5], linear tails, plain MADE
2 x 64, order reversed between layers; digits: 5 affine MADE layers 2 x 256, reversals;
parameter counts printed and required within 5%), no dropout and no ActNorm (zuko has
neither), one training loop for all: fused Adam at the demo's learning-rate schedule
(chosen on validation, benchmarks/moons_schedule.py), the demo's batch, the same seeded
batches and dequantization noise, the same logit preprocessing outside the model, 1
thread each.
Out of the box (compares defaults): bijective trains the demo's shipped config with
bj.train's loop and `train.threads: auto`; each peer trains its documented model at the
task's depth and width (speed_models.*_defaults_*: nflows' and normflows' MADE layers with
their default residual blocks) with the loop its documentation shows (Adam at lr 1e-3,
constant, torch's default threads).

Every run is its own process; three seeds per row. A row's ratio (peer seconds over
bijective's: > 1 means bijective is faster) is given only where every run of both met
the target, with its min-max range, and is "level" where the range holds 1.0.

    pip install -e .[bench] && python benchmarks/time_to_quality.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable

import speed_models as peers
import torch
from compare import PEERS, in_process, ratio_cell, require, spread
from quiet_fit import fit_quietly
from report import RESULTS, markdown, write

import bijective as bj
from bijective.cli import DEMO
from bijective.train.config import parse_config
from bijective.train.loop import learning_rate
from bijective.train.threads import auto_threads

LOGIT = 0.05
TASKS = {
    "moons-nsf": {
        "target": 1.16,
        "metric": "test NLL (nats)",
        "hidden": 64,
        "cap": 45.0,
        "equal": {
            "bijective": peers.nsf_bj,
            "nflows": peers.nsf_nflows,
            "zuko": peers.nsf_zuko,
            "normflows": peers.nsf_normflows,
        },
        "defaults": {
            "nflows": peers.nsf_defaults_nflows,
            "zuko": peers.nsf_zuko,
            "normflows": peers.nsf_defaults_normflows,
        },
    },
    "digits-maf": {
        "target": 2.20,
        "metric": "test bits/dim",
        "hidden": 256,
        "cap": 60.0,
        # Conditioner dropout in the equal recipe where the library has it; zuko's MADE has
        # none, so zuko is compared with bijective without dropout.
        "dropout": 0.2,
        "against": {"zuko": "bijective, no dropout"},
        "equal": {
            "bijective": peers.maf_bj,
            "bijective, no dropout": peers.maf_bj,
            "nflows": peers.maf_nflows,
            "zuko": peers.maf_zuko,
            "normflows": peers.maf_normflows,
            # normflows' MAF with reversals between layers instead of its half swap: does
            # the ordering explain its plateau near 2.6 bits/dim?
            "normflows, reversals": peers.maf_normflows_reversed,
        },
        "defaults": {
            "nflows": peers.maf_defaults_nflows,
            "zuko": peers.maf_zuko,
            "normflows": peers.maf_defaults_normflows,
        },
    },
}
RECIPES = {
    "equal": "Equal recipe: same architecture, optimizer, schedule, batch, data order, 1 thread",
    "defaults": "Out of the box: each library's defaults (architectures and recipes differ)",
}


class Reached(Exception):
    """The target is met, or the cap is hit: stop training."""


class Clock:
    """Training seconds (evaluation excluded), steps, and the best test value seen."""

    def __init__(self, target: float, cap: float) -> None:
        self.target, self.cap = target, cap
        self.started = time.perf_counter()
        self.paused = 0.0
        self.best = math.inf
        self.reached: float | None = None
        self.steps = 0
        self.trained = 0.0

    def check(self, evaluate: Callable[[], float], steps: int) -> None:
        """Evaluates (untimed); raises Reached when the target is met or the cap is hit."""
        now = time.perf_counter()
        self.trained = now - self.started - self.paused
        value = evaluate()
        self.paused += time.perf_counter() - now
        self.best, self.steps = min(self.best, value), steps
        if value <= self.target:
            self.reached = self.trained
            raise Reached
        if self.trained > self.cap:
            raise Reached


def prefix(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """logit(a + (1 - 2a) y) of dequantized pixels y in [0, 1), and its log-det per row."""
    s = LOGIT + (1 - 2 * LOGIT) * y
    ladj = (math.log(1 - 2 * LOGIT) - s.log() - (-s).log1p()).sum(-1)
    return s.log() - (-s).log1p(), ladj


DEVICE = "cpu"  # --device: where every library's model, data and training run


def demo_config(task: str, seed: int, every: int) -> object:
    raw = {"name": task, **DEMO[task]}
    options = {"seed": seed, "eval_every": every, "checkpoint_every": 10**6, "device": DEVICE}
    raw["train"] = {**raw["train"], **options}
    return parse_config(raw)


def ours_defaults(task: str, seed: int, every: int, clock: Clock) -> tuple[int, int]:
    """The demo's shipped config through bj.train's loop; returns (the parameter count, the
    threads `train.threads: auto` trained with)."""
    experiment = bj.train.build(demo_config(task, seed, every))
    data, seed0 = experiment.data, experiment.config.data.seed

    def test_metric() -> float:
        nll = experiment.nll(data.test, seed0 + 2)
        return nll if data.levels is None else bj.objectives.bits_per_dim(nll, data.features)

    steps = [0]

    def validate(model: torch.nn.Module) -> float:
        steps[0] += every
        clock.check(test_metric, steps[0])
        return 0.0

    params = sum(p.numel() for p in experiment.model.parameters() if p.requires_grad)
    try:
        fit_quietly(experiment, validate)
    except Reached:
        pass
    return params, auto_threads(experiment.model)


def adam(module: torch.nn.Module, lr: float, fused: bool) -> torch.optim.Optimizer:
    if fused:
        try:
            return torch.optim.Adam(module.parameters(), lr=lr, fused=True)
        except RuntimeError:
            pass
    return torch.optim.Adam(module.parameters(), lr=lr)


def loop(task: str, recipe: str, library: str, seed: int, every: int, clock: Clock) -> int:
    """One loop for every library: seeded batches (and dequantization noise), the model's
    -log p(x) mean, Adam; the equal recipe at the demo's schedule, fused Adam, the peers'
    defaults at their documented constant 1e-3. Returns the parameter count."""
    spec, raw = TASKS[task], DEMO[task]
    rates = demo_config(task, seed, every).train
    data = bj.data.load(
        raw["data"]["name"], **{k: v for k, v in raw["data"].items() if k not in ("name", "logit")}
    )
    equal = recipe == "equal"
    peers.HIDDEN = spec["hidden"]
    peers.DROPOUT = spec.get("dropout", 0.0) if equal and "no dropout" not in library else 0.0
    torch.manual_seed(seed)
    model = spec[recipe][library](data.features)
    model.module.to(DEVICE)
    optimizer = adam(model.module, rates.lr if equal else 1e-3, fused=equal)
    batch, g = raw["train"]["batch"], torch.Generator().manual_seed(seed)
    levels, dims, train_x, test = data.levels, data.features, data.train.x, data.test.x
    if levels is not None:
        test, test_ladj = prefix(bj.data.dequantize(test, levels, torch.Generator().manual_seed(2)))
        test_ladj = test_ladj.to(DEVICE)
    test = test.to(DEVICE)

    def test_metric() -> float:
        model.module.eval()
        with torch.no_grad():
            if levels is None:
                value = -model.log_prob(test).mean().item()
            else:
                nll = -(model.log_prob(test) + test_ladj).mean().item() + dims * math.log(levels)
                value = bj.objectives.bits_per_dim(nll, dims)
        model.module.train()
        return value

    step = 0
    try:
        while True:
            step += 1
            x = train_x[torch.randint(len(train_x), (batch,), generator=g)]
            if levels is not None:
                x = prefix(bj.data.dequantize(x, levels, g))[0]
            x = x.to(DEVICE)  # drawn on the CPU, so every device sees the same batches
            if equal:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(rates, step)
            loss = -model.log_prob(x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % every == 0:
                clock.check(test_metric, step)
    except Reached:
        pass
    return sum(p.numel() for p in model.module.parameters() if p.requires_grad)


def worker(task: str, recipe: str, library: str, seed: int, every: int) -> dict:
    """One run, in this process: the row of the results."""
    spec = TASKS[task]
    clock = Clock(spec["target"], spec["cap"])
    # torch's one-time costs before the clock: the first optimizer imports torch._dynamo.
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    if recipe == "equal":
        torch.set_num_threads(1)
    if recipe == "defaults" and library == "bijective":
        params, threads = ours_defaults(task, seed, every, clock)  # train.threads: auto
    else:
        clock.started = time.perf_counter()
        params, threads = loop(task, recipe, library, seed, every, clock), torch.get_num_threads()
    return {
        "task": task,
        "recipe": recipe,
        "library": library,
        "seed": seed,
        "parameters": params,
        "threads": threads,
        "seconds": None if clock.reached is None else round(clock.reached, 2),
        "trained_seconds": round(clock.trained, 2),
        "steps": clock.steps,
        "ms_per_step": round(1e3 * clock.trained / max(1, clock.steps), 3),
        "best": round(clock.best, 4),
    }


def libraries(task: str, recipe: str) -> list[str]:
    return list(TASKS[task]["equal"]) if recipe == "equal" else ["bijective", *PEERS]


def table(task: str, recipe: str, rows: list[dict]) -> list[list[str]]:
    """One row per library; each peer's ratios against its bijective row (the equal
    recipe's `against`, else "bijective")."""
    spec = TASKS[task]
    runs = {
        lib: [r for r in rows if (r["task"], r["recipe"], r["library"]) == (task, recipe, lib)]
        for lib in libraries(task, recipe)
    }
    cells = []
    for lib, mine in runs.items():
        if not mine:
            continue
        mine_reached = all(r["seconds"] is not None for r in mine)
        if mine_reached:
            median = spread([r["seconds"] for r in mine])
        else:
            missed = sum(r["seconds"] is None for r in mine)
            best = min(r["best"] for r in mine)
            median = f"not reached in {spec['cap']:.0f} s by {missed} of {len(mine)} runs (best {best:.3f})"
        versus = step_ratio = ""
        if not lib.startswith("bijective"):
            reference = (
                spec.get("against", {}).get(lib, "bijective") if recipe == "equal" else "bijective"
            )
            ours = runs[reference]
            if mine_reached and all(r["seconds"] is not None for r in ours):
                versus = ratio_cell([r["seconds"] for r in ours], [r["seconds"] for r in mine])
            else:
                versus = "no ratio: not every run met the target"
            step_ratio = ratio_cell(
                [r["ms_per_step"] for r in ours], [r["ms_per_step"] for r in mine]
            )
            if reference != "bijective":
                versus, step_ratio = (
                    f"against {reference}: {versus}",
                    f"against {reference}: {step_ratio}",
                )
            if recipe == "equal" and abs(mine[0]["parameters"] / ours[0]["parameters"] - 1) > 0.05:
                versus = f"not equal: parameters differ by more than 5% ({versus})"
        cells.append(
            [
                lib,
                f"{mine[0]['parameters']:,}",
                str(mine[0]["threads"]),
                ", ".join("-" if r["seconds"] is None else f"{r['seconds']:.1f}" for r in mine),
                median,
                ", ".join(str(r["steps"]) for r in mine),
                f"{min(r['best'] for r in mine):.3f}",
                spread([r["ms_per_step"] for r in mine]),
                versus,
                step_ratio,
            ]
        )
    return cells


HEADER = [
    "library",
    "parameters",
    "threads",
    "seconds per run",
    "median s (min-max)",
    "steps",
    "best value",
    "ms per step (min-max)",
    "time to target: peer / bijective",
    "per step: peer / bijective",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--worker", nargs=4, metavar=("TASK", "RECIPE", "LIBRARY", "SEED"))
    parser.add_argument("--report", action="store_true", help="re-render results/*.json")
    args = parser.parse_args()
    if args.report:
        saved = json.loads((RESULTS / "time_to_quality.json").read_text())
        return report(saved["rows"], saved["meta"])
    require(*PEERS)
    global DEVICE
    DEVICE = args.device
    if args.worker:
        task, recipe, library, seed = args.worker
        print(json.dumps(worker(task, recipe, library, int(seed), args.every)), flush=True)
        return
    rows = []
    for task in args.tasks:
        for recipe in args.recipes:
            for library in libraries(task, recipe):
                for seed in args.seeds:
                    rows.append(
                        in_process(
                            __file__,
                            "--every",
                            str(args.every),
                            "--device",
                            args.device,
                            "--worker",
                            task,
                            recipe,
                            library,
                            str(seed),
                        )
                    )
                    print(rows[-1], file=sys.stderr, flush=True)
    settings = {
        "tasks": args.tasks,
        "recipes": args.recipes,
        "seeds": args.seeds,
        "every": args.every,
        "caps_seconds": {t: TASKS[t]["cap"] for t in args.tasks},
        "processes": "one per run",
        "device": args.device,
    }
    report(rows, settings)


def report(rows: list[dict], settings: dict) -> None:
    sections = []
    for task in settings["tasks"]:
        spec = TASKS[task]
        for recipe in settings["recipes"]:
            title = f"### {task}, {spec['metric']} <= {spec['target']}: {RECIPES[recipe]}"
            sections.append(f"{title}\n\n{markdown(HEADER, table(task, recipe, rows))}")
    keep = ("tasks", "recipes", "seeds", "every", "caps_seconds", "processes", "device")
    settings = {k: settings[k] for k in keep if k in settings}
    settings |= {"threads": "per row (the rows' threads)"}
    write("time_to_quality", settings, rows, "\n\n".join(sections))


if __name__ == "__main__":
    main()
