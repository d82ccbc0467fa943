"""Flow matching against FFJORD: the same continuous flow (one ODENet of ConcatSquash
3 x 64, tanh, on t in [0, 1]; dopri5 at rtol = atol = 1e-5; the exact trace in
evaluation), trained by maximum likelihood (FFJORD: an ODE solve per step, Hutchinson's
trace) or by flow-matching regression (no solve), on two moons (noise 0.05, standardised).

Each trains for `--budget` training seconds (evaluation not counted) at batch 512, Adam
at lr 1e-3 (FFJORD's configs/moons-ffjord.yaml uses 5e-3 with a cosine schedule over 2,000
steps; here both run the same constant rate, not tuned for either: `--lr` to change),
one thread, three seeds. Every `--every` training seconds the exact validation NLL (2,000
points) is measured; at the end the exact test NLL (5,000 points) of the best validated
weights. Reported: FFJORD's final test NLL, the training seconds flow matching takes to
reach FFJORD's final validation NLL, and both models' sampling speed (samples per second
through the ODE, 5,000 samples).

    python benchmarks/flow_matching.py [--budget 240] [--seeds 0 1 2]

-> results/flow_matching.{md,json}
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from report import save

import bijective as bj


def evaluate(flow: bj.Flow, x: torch.Tensor) -> float:
    flow.eval()
    with torch.no_grad():
        nll = -flow.log_prob(x).mean().item()
    flow.train()
    return nll


def run(kind: str, seed: int, budget: float, every: float, lr: float) -> dict:
    torch.manual_seed(seed)
    data = bj.data.load("moons", noise=0.05)
    val = data.val.x[:2000]
    if kind == "ffjord":
        flow = bj.flows.FFJORD(2, hidden=(64, 64, 64))
        loss_of = lambda x: -flow.log_prob(x).mean()  # noqa: E731
    else:
        flow = bj.flows.FlowMatching(2, hidden=(64, 64, 64), path="ot")
        loss_of = flow.training_loss
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    trained, since, curve, best = 0.0, 0.0, [], (float("inf"), None)
    while trained < budget:
        x = data.train.x[torch.randint(len(data.train.x), (512,), generator=generator)]
        started = time.perf_counter()
        loss = loss_of(x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step = time.perf_counter() - started
        trained, since = trained + step, since + step
        if since >= every or trained >= budget:
            since = 0.0
            nll = evaluate(flow, val)
            curve.append((trained, nll))
            if nll < best[0]:
                best = (nll, copy.deepcopy(flow.state_dict()))
            print(f"{kind} seed {seed}: {trained:.0f} s, val NLL {nll:.4f}", flush=True)
    flow.load_state_dict(best[1])
    test = evaluate(flow, data.test.x)
    flow.eval()
    with torch.no_grad():
        started = time.perf_counter()
        flow.sample((5000,))
        rate = 5000 / (time.perf_counter() - started)
    return {"kind": kind, "seed": seed, "curve": curve, "test_nll": test,
            "best_val_nll": best[0], "samples_per_second": rate}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=240.0)
    parser.add_argument("--every", type=float, default=20.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [
        run(k, s, args.budget, args.every, args.lr) for s in args.seeds for k in ("ffjord", "fm")
    ]
    cells = []
    for seed in args.seeds:
        ffjord, fm = (
            next(r for r in rows if r["kind"] == k and r["seed"] == seed) for k in ("ffjord", "fm")
        )
        target = ffjord["best_val_nll"]
        reached = next((t for t, nll in fm["curve"] if nll <= target), None)
        fm["seconds_to_ffjord"] = reached
        cells.append([str(seed), f"{ffjord['test_nll']:.4f}", f"{fm['test_nll']:.4f}",
                      f"{target:.4f}", "not reached" if reached is None else f"{reached:.0f}",
                      f"{args.budget:.0f}", f"{ffjord['samples_per_second']:.0f}",
                      f"{fm['samples_per_second']:.0f}"])  # fmt: skip
    header = ["seed", "FFJORD test NLL", "flow matching test NLL", "FFJORD best val NLL",
              "flow matching s to reach it", "budget s (each)", "FFJORD samples / s",
              "flow matching samples / s"]  # fmt: skip
    ratios = [args.budget / r["seconds_to_ffjord"] for r in rows if r.get("seconds_to_ffjord")]
    notes = (f"Median speed-up in training time to FFJORD's final validation NLL: "
             f"{statistics.median(ratios):.1f}x (over the seeds where it was reached; "
             f"FFJORD's time is its whole budget, an upper bound of its own time)." if ratios else
             "Flow matching did not reach FFJORD's final validation NLL within the budget.")  # fmt: skip
    settings = {"threads": 1, "budget_seconds": args.budget, "lr": args.lr, "batch": 512}
    save("flow_matching", settings, rows, header, cells, notes)


if __name__ == "__main__":
    main()
