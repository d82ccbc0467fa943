"""Time to quality against nflows, zuko and normflows: the training wall-clock time until a
model first meets a target on the test set.

Tasks (the issue's targets):
  moons-nsf   NSF (5 autoregressive spline layers, 8 bins, 2 x 64) on two moons (noise
              0.05; 20,000 / 5,000 / 5,000 points standardised on train): test NLL <= 1.16
  digits-maf  MAF (5 MADE layers, 2 x 256) on sklearn's digits, uniformly dequantized,
              logit(0.05 + 0.9 y): test bits/dim <= 2.20 (-log P of the integer pixels by the
              dequantization bound)

bijective trains with `bijective train`'s machinery and defaults (bijective.train.fit, the
demo's configs for these two tasks, train.threads auto); each peer with the loop its
documentation shows (Adam at lr 1e-3, constant, -log_prob(x).mean(), torch's default
threads) on the same architecture (speed_models.py's builders), the same data splits and
batch size, in the same process, one run at a time. Rows NAME+schedule (zuko by default,
`--schedule`) train a peer by the same loop at bijective's learning-rate schedule for the
task: they show how much of the lead the schedule alone gives. Every `--every` steps the test metric
is computed (its time is not counted); a run stops when it meets the target or after
`--cap` seconds of training (then "not reached", with the best value seen). Three seeds.
torch's one-time lazy imports are paid before the first clock starts.

    pip install -e .[bench] && python benchmarks/time_to_quality.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import speed_models as peers
import torch
from report import save

import bijective as bj
from bijective.cli import DEMO
from bijective.train.config import parse_config
from bijective.train.loop import fit, learning_rate

LOGIT = 0.05
TASKS = {
    "moons-nsf": {
        "target": 1.16,
        "metric": "test NLL (nats)",
        "hidden": 64,
        "peers": {
            "nflows": peers.nsf_nflows,
            "zuko": peers.nsf_zuko,
            "normflows": peers.nsf_normflows,
        },
    },
    "digits-maf": {
        "target": 2.20,
        "metric": "test bits/dim",
        "hidden": 256,
        "peers": {
            "nflows": peers.maf_nflows,
            "zuko": peers.maf_zuko,
            "normflows": peers.maf_normflows,
        },
    },
}


class Reached(Exception):
    """The target is met: stop training."""


class Clock:
    """Training seconds (evaluation excluded) and the trajectory of test values."""

    def __init__(self, target: float, cap: float) -> None:
        self.target, self.cap = target, cap
        self.started = time.perf_counter()
        self.paused = 0.0
        self.best = math.inf
        self.reached: float | None = None
        self.steps = 0

    def check(self, evaluate: Callable[[], float], steps: int) -> None:
        """Evaluates (untimed); raises Reached when the target is met or the cap is hit."""
        now = time.perf_counter()
        trained = now - self.started - self.paused
        value = evaluate()
        self.paused += time.perf_counter() - now
        self.best, self.steps = min(self.best, value), steps
        if value <= self.target:
            self.reached = trained
            raise Reached
        if trained > self.cap:
            raise Reached


def ours(task: str, seed: int, every: int, clock: Clock, device: str = "cpu") -> None:
    raw = {"name": task, **DEMO[task]}
    options = {"seed": seed, "eval_every": every, "checkpoint_every": 10**6, "device": device}
    raw["train"] = {**raw["train"], **options}
    experiment = bj.train.build(parse_config(raw))
    data, seed0 = experiment.data, experiment.config.data.seed

    def test_metric() -> float:
        nll = experiment.nll(data.test, seed0 + 2)
        return nll if data.levels is None else bj.objectives.bits_per_dim(nll, data.features)

    steps = [0]

    def validate(model: torch.nn.Module) -> float:
        steps[0] += every
        clock.check(test_metric, steps[0])
        return 0.0

    with tempfile.TemporaryDirectory() as run_dir:
        config = experiment.config.train
        fit(
            experiment.model,
            experiment.loss,
            experiment.draw,
            validate,
            config,
            Path(run_dir),
            log=lambda *_: None,
        )


def _prefix(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """logit(a + (1 - 2a) y) of dequantized pixels y in [0, 1), and its log-det per row."""
    s = LOGIT + (1 - 2 * LOGIT) * y
    ladj = (math.log(1 - 2 * LOGIT) - s.log() - (-s).log1p()).sum(-1)
    return s.log() - (-s).log1p(), ladj


def peer(task: str, name: str, seed: int, every: int, clock: Clock, device: str = "cpu") -> None:
    """`name` a peer's, trained by its documented loop; "NAME+schedule": the same loop at
    bijective's learning-rate schedule for the task (warm-up, rate, cosine horizon)."""
    name, _, schedule = name.partition("+")
    spec, raw = TASKS[task], DEMO[task]
    rates = parse_config({"name": task, **raw}).train
    data = bj.data.load(
        raw["data"]["name"], **{k: v for k, v in raw["data"].items() if k not in ("name", "logit")}
    )
    peers.HIDDEN = spec["hidden"]
    torch.manual_seed(seed)
    model = spec["peers"][name](data.features)
    model.module.to(device)
    train_x = data.train.x.to(device)
    optimizer = torch.optim.Adam(model.module.parameters(), lr=1e-3)
    batch, g = raw["train"]["batch"], torch.Generator().manual_seed(seed)
    levels, dims = data.levels, data.features
    test = data.test.x
    if levels is not None:
        noise = torch.Generator().manual_seed(2)
        test_y, test_ladj = (t.to(device) for t in _prefix(bj.data.dequantize(test, levels, noise)))
    test = test.to(device)

    def test_metric() -> float:
        model.module.eval()
        with torch.no_grad():
            if levels is None:
                value = -model.log_prob(test).mean().item()
            else:
                nll = -(model.log_prob(test_y) + test_ladj).mean().item() + dims * math.log(levels)
                value = bj.objectives.bits_per_dim(nll, dims)
        model.module.train()
        return value

    step = 0
    while True:
        step += 1
        x = train_x[torch.randint(len(data.train), (batch,), generator=g).to(device)]
        if levels is not None:
            noise = g if x.device.type == "cpu" else None  # a CPU generator draws on the CPU
            x = _prefix(bj.data.dequantize(x, levels, noise))[0]
        if schedule:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(rates, step)
        loss = -model.log_prob(x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % every == 0:
            clock.check(test_metric, step)


def libraries(task: str, schedule: list[str]) -> list[str]:
    peers = list(TASKS[task]["peers"])
    return ["bijective", *peers, *(f"{name}+schedule" for name in peers if name in schedule)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--schedule",
        nargs="*",
        default=["zuko"],
        help="peers also trained at bijective's learning-rate schedule (rows NAME+schedule)",
    )
    parser.add_argument(
        "--cap", type=float, nargs=2, default=[45.0, 90.0], metavar=("MOONS", "DIGITS")
    )
    args = parser.parse_args()
    caps = dict(zip(TASKS, args.cap, strict=True))
    # torch's one-time costs before any clock: the first optimizer a process builds imports
    # torch._dynamo (0.7 s here), which the first run timed would otherwise pay for all.
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    rows = []
    for task in args.tasks:
        spec = TASKS[task]
        for library in libraries(task, args.schedule):
            for seed in args.seeds:
                torch.set_num_threads(2)  # torch's default here; bijective's fit picks its own
                clock = Clock(spec["target"], caps[task])
                try:
                    if library == "bijective":
                        ours(task, seed, args.every, clock, args.device)
                    else:
                        peer(task, library, seed, args.every, clock, args.device)
                except Reached:
                    pass
                rows.append(
                    {
                        "task": task,
                        "library": library,
                        "seed": seed,
                        "seconds": None if clock.reached is None else round(clock.reached, 1),
                        "steps": clock.steps,
                        "best": round(clock.best, 4),
                    }
                )
                print(rows[-1], flush=True)
    cells = []
    for task in args.tasks:
        mine = [r for r in rows if r["task"] == task and r["library"] == "bijective"]
        mine_median = statistics.median(
            r["seconds"] if r["seconds"] is not None else math.inf for r in mine
        )
        for library in libraries(task, args.schedule):
            runs = [r for r in rows if r["task"] == task and r["library"] == library]
            times = [r["seconds"] if r["seconds"] is not None else math.inf for r in runs]
            median = statistics.median(times)
            shown = lambda t: "not reached" if math.isinf(t) else f"{t:.1f}"  # noqa: E731
            ratio = (
                ""
                if library == "bijective"
                else (
                    f">= {caps[task] / mine_median:.1f}x"
                    if math.isinf(median)
                    else f"{median / mine_median:.1f}x"
                )
            )
            cells.append(
                [
                    task,
                    f"<= {TASKS[task]['target']} ({TASKS[task]['metric']})",
                    library,
                    ", ".join(shown(t) for t in times),
                    shown(median),
                    ", ".join(str(r["steps"]) for r in runs),
                    f"{min(r['best'] for r in runs):.3f}",
                    ratio,
                ]
            )
    save(
        "time_to_quality",
        {"seeds": args.seeds, "every": args.every, "caps_seconds": caps, "device": args.device},
        rows,
        [
            "task",
            "target",
            "library",
            "seconds per seed",
            "median s",
            "steps",
            "best value",
            "median / bijective's",
        ],
        cells,
    )


if __name__ == "__main__":
    main()
