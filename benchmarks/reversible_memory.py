"""Peak memory of one Glow training step (forward, backward) with standard backprop and
with reversible backprop (Glow(reversible=True): activations recomputed from outputs),
for growing depth, on Fashion-MNIST-sized images (1 x 28 x 28), batch 32, 2 levels,
ResNet conditioners 64 channels wide. Peak = the most bytes allocated at once during the
step above what was allocated before it (torch.profiler memory events, CPU). Time per
step is the median of 5 after a warm-up.

    python benchmarks/reversible_memory.py      # about 2 minutes on 2 cores
"""

from __future__ import annotations

import statistics
import time

import torch
from report import save
from speed import peak_memory

import bijective as bj

STEPS, BATCH, SHAPE = (4, 8, 16), 32, (1, 28, 28)


def step_fn(flow: bj.Flow, x: torch.Tensor):
    def step() -> None:
        flow.zero_grad(set_to_none=True)
        (-flow.log_prob(x).mean()).backward()

    return step


def main() -> None:
    torch.set_num_threads(2)
    x = torch.rand(BATCH, *SHAPE)
    rows, cells = [], []
    for steps in STEPS:
        row = {"steps_per_level": steps}
        for reversible in (False, True):
            torch.manual_seed(0)
            flow = bj.flows.Glow(SHAPE, scales=2, steps=steps, channels=64, reversible=reversible)
            step = step_fn(flow, x)
            step()  # ActNorm's initialisation, allocator warm-up
            key = "reversible" if reversible else "standard"
            row[f"{key}_peak_mib"] = peak_memory(step)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            row[f"{key}_seconds"] = statistics.median(times)
        row["memory_ratio"] = row["standard_peak_mib"] / row["reversible_peak_mib"]
        row["time_ratio"] = row["reversible_seconds"] / row["standard_seconds"]
        rows.append(row)
        print(row, flush=True)
        cells.append(
            [
                f"{2 * steps} ({steps} per level)",
                f"{row['standard_peak_mib']:.0f}",
                f"{row['reversible_peak_mib']:.0f}",
                f"{row['memory_ratio']:.2f}x less",
                f"{row['standard_seconds'] * 1000:.0f} / {row['reversible_seconds'] * 1000:.0f}",
                f"{row['time_ratio']:.2f}x",
            ]
        )
    header = [
        "Glow steps",
        "standard peak (MiB)",
        "reversible peak (MiB)",
        "memory",
        "step ms (standard / reversible)",
        "time cost",
    ]
    save(
        "reversible_memory",
        {"batch": BATCH, "shape": SHAPE, "levels": 2, "channels": 64},
        rows,
        header,
        cells,
    )


if __name__ == "__main__":
    main()
