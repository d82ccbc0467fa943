"""Where a training step's time goes: torch.profiler over repeated training steps of one
speed case (speed_models.py), for bijective and one peer, at 1 thread, in one process.
The table lists the operators by self CPU time per step for each library, so a reader
sees which kernels (and how much Python between them) make the difference.

    pip install -e .[bench] && python benchmarks/profile_step.py --case "MAF D=8" --peer normflows
"""

from __future__ import annotations

import argparse

import speed_models
import torch
from compare import PEERS, require
from report import markdown, write
from speed import step_fn
from speed_models import cases
from torch.profiler import ProfilerActivity, profile


def profiled(step: object, steps: int) -> tuple[list[tuple[str, float, int]], float]:
    """(operators as (name, self CPU µs per step, calls per step), the total µs per step)."""
    for _ in range(5):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = prof.key_averages()
    ops = [(e.key, e.self_cpu_time_total / steps, e.count // steps) for e in events]
    ops.sort(key=lambda op: -op[1])
    return ops, sum(op[1] for op in ops)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", default="MAF D=8")
    parser.add_argument("--peer", choices=PEERS, default="normflows")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=speed_models.HIDDEN)
    parser.add_argument("--dropout", type=float, default=0.0, help="MAF cases' MADE dropout")
    args = parser.parse_args()
    require(args.peer)
    torch.set_num_threads(1)
    speed_models.HIDDEN, speed_models.DROPOUT = args.hidden, args.dropout
    case = next(c for c in cases() if c.name == args.case)
    sections = [f"One training step of {case.name} (hidden {args.hidden}, dropout {args.dropout}, "
                f"batch {case.batch}), 1 thread, {args.steps} profiled steps after 5 warm-up "
                "steps; self CPU time per step."]  # fmt: skip
    rows = []
    for lib in ("bijective", args.peer):
        torch.manual_seed(0)
        model = case.builders[lib](case.features)
        ops, total = profiled(step_fn(case, model), args.steps)
        calls = sum(op[2] for op in ops)
        rows.append(
            {"library": lib, "total_us": total, "operator_calls": calls, "top": ops[: args.top]}
        )
        cells = [[name, f"{us:.0f}", str(count)] for name, us, count in ops[: args.top]]
        sections += [
            f"### {lib}: {total / 1e3:.2f} ms of operator time per step, {calls} operator calls",
            markdown(["operator", "self µs per step", "calls per step"], cells),
        ]
    name = "profile_" + args.case.lower().replace(" ", "_").replace("=", "")
    name += f"_dropout{args.dropout:g}" if args.dropout else ""
    write(
        name,
        {"case": args.case, "peer": args.peer, "steps": args.steps},
        rows,
        "\n\n".join(sections),
    )
    print("\n\n".join(sections))


if __name__ == "__main__":
    main()
