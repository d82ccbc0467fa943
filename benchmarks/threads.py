"""How many threads a training step should use: the evidence behind `train.threads: auto`.

For each shipped experiment (the demo's two, and image flows on digits), one training
step (loss, backward, Adam) is timed with torch.set_num_threads(1) and (2), alternating
within every round, in two conditions: an idle machine, and one where a second process
keeps 2 threads busy (what CI, a test run, or a second experiment does to a shared
machine). Medians of the per-round times.

    python benchmarks/threads.py [--rounds 7] [--steps 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time

import torch
from report import save

import bijective as bj
from bijective.cli import DEMO
from bijective.train.config import parse_config

EXPERIMENTS = {
    "moons-nsf (demo)": {"name": "a", **DEMO["moons-nsf"]},
    "digits-maf (demo)": {"name": "b", **DEMO["digits-maf"]},
    "digits-realnvp-image": {
        "name": "c",
        "data": {"name": "digits"},
        "model": {"name": "image-realnvp", "levels": 2, "channels": 64, "blocks": 2},
        "train": {"batch": 64},
    },
    "digits-glow": {
        "name": "d",
        "data": {"name": "digits"},
        "model": {"name": "glow", "levels": 2, "steps": 4, "channels": 128},
        "train": {"batch": 64},
    },
}


def _busy(stop: multiprocessing.Event) -> None:
    """A second job: 2 threads of matrix products until told to stop."""
    torch.set_num_threads(2)
    a = torch.randn(512, 512)
    while not stop.is_set():
        a = torch.tanh(a @ a)


def _step(experiment: bj.train.Experiment) -> callable:
    optimizer = torch.optim.Adam(experiment.model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    experiment.model.train()

    def step() -> None:
        batch = experiment.draw(generator, 1)
        optimizer.zero_grad()
        experiment.loss(experiment.model, batch).backward()
        optimizer.step()

    return step


def measure(step: callable, threads: int, steps: int) -> float:
    torch.set_num_threads(threads)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for name, raw in EXPERIMENTS.items():
        experiment = bj.train.build(parse_config(raw))
        params = sum(p.numel() for p in experiment.model.parameters())
        step = _step(experiment)
        for _ in range(3):
            step()  # warm-up
        for condition in ("idle", "busy"):
            spawn = multiprocessing.get_context("spawn")  # a forked child deadlocks in OpenMP
            stop = spawn.Event()
            other = None
            if condition == "busy":
                other = spawn.Process(target=_busy, args=(stop,), daemon=True)
                other.start()
                time.sleep(5.0)  # spawned: it imports torch first
            times = {1: [], 2: []}
            for _ in range(args.rounds):
                for threads in (1, 2):
                    times[threads].append(measure(step, threads, args.steps))
            stop.set()
            if other is not None:
                other.join()
            one, two = (statistics.median(times[t]) * 1e3 for t in (1, 2))
            rows.append(
                {
                    "experiment": name,
                    "parameters": params,
                    "batch": raw["train"]["batch"],
                    "machine": condition,
                    "1 thread (ms)": round(one, 1),
                    "2 threads (ms)": round(two, 1),
                    "2 threads / 1": round(two / one, 2),
                }
            )
            print(rows[-1], flush=True)
    header = ["experiment", "parameters", "batch", "machine", "1 thread", "2 threads", "2 / 1"]
    cells = [[str(v) if not isinstance(v, int) else f"{v:,}" for v in r.values()] for r in rows]
    settings = {"rounds": args.rounds, "steps": args.steps, "cores": multiprocessing.cpu_count()}
    save("threads", settings, rows, header, cells)


if __name__ == "__main__":
    main()
