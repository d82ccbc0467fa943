"""Streaming a file against holding it in memory: the throughput of training batches.

One .npy file of 2,000,000 rows x 8 float32 features (64 MB, so that the in-memory path
can run too) trains a MAF (5 transforms, 128 x 2) at batch 512 through `bijective train`'s
density experiment, one torch thread. Measured per path, in separate processes, three
times, interleaved: the seconds of 300 draws alone (rows a second the data path delivers),
and of 300 full training steps (draw, loss, backward, Adam). Paths: in memory (rows drawn
at random from a tensor), streamed with the batches read in the training process
(workers 0), and streamed with 2 DataLoader workers.

    python benchmarks/streaming.py [--repeats 3]

-> results/streaming.{md,json}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report import save

ROWS, FEATURES, BATCH, STEPS = 2_000_000, 8, 512, 300
PATHS = {
    "in memory": (False, 0),
    "streamed, 0 workers": (True, 0),
    "streamed, 2 workers": (True, 2),
}


def measure(path: str, stream: bool, workers: int) -> dict:
    """In this process: draws per second and training steps per second."""
    import torch

    import bijective.train as T
    from bijective.train.loop import make_optimizer

    torch.set_num_threads(1)
    raw = {
        "name": "stream",
        "data": {"name": "file", "path": path, "stream": stream, "workers": workers},
        "model": {"name": "maf", "transforms": 5, "hidden": [128, 128]},
        "train": {"steps": 2 * STEPS + 1, "batch": BATCH, "threads": 1},
    }
    experiment = T.build(T.parse_config(raw))
    generator = torch.Generator().manual_seed(0)
    experiment.draw(generator, 1)  # the loader's start and first chunk, not timed
    started = time.perf_counter()
    for step in range(2, STEPS + 2):
        experiment.draw(generator, step)
    draws = time.perf_counter() - started
    model = experiment.model.train()
    optimizer = make_optimizer(model, experiment.config.train)
    started = time.perf_counter()
    for step in range(STEPS + 2, 2 * STEPS + 2):
        loss = experiment.loss(model, experiment.draw(generator, step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    steps = time.perf_counter() - started
    return {"draw_seconds": draws / STEPS, "step_seconds": steps / STEPS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, stream, workers = args.child
        print(json.dumps(measure(path, stream == "1", int(workers))))
        return
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "rows.npy")
        rng = np.random.default_rng(0)
        np.save(path, rng.standard_normal((ROWS, FEATURES), dtype=np.float32))
        for repeat in range(args.repeats):
            for name, (stream, workers) in PATHS.items():
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    path,
                    str(int(stream)),
                    str(workers),
                ]
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
                row = {"path": name, "repeat": repeat, **json.loads(out.stdout.splitlines()[-1])}
                rows.append(row)
                print(row)
    cells = []
    base = {
        key: statistics.median(r[key] for r in rows if r["path"] == "in memory")
        for key in ("draw_seconds", "step_seconds")
    }
    for name in PATHS:
        mine = [r for r in rows if r["path"] == name]
        draw = statistics.median(r["draw_seconds"] for r in mine)
        step = statistics.median(r["step_seconds"] for r in mine)
        cells.append(
            [
                name,
                f"{BATCH / draw / 1e6:.2f}",
                f"{draw * 1e3:.2f}",
                f"{step * 1e3:.1f}",
                f"{step / base['step_seconds']:.2f}",
            ]
        )
    header = ["data path", "draw: M rows/s", "draw ms", "step ms", "step / in memory"]
    settings = {
        "rows": ROWS,
        "features": FEATURES,
        "batch": BATCH,
        "steps": STEPS,
        "repeats": args.repeats,
        "threads": 1,
    }
    save("streaming", settings, rows, header, cells, notes=__doc__.split("\n\n")[1])


if __name__ == "__main__":
    main()
