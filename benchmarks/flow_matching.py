"""Flow matching against FFJORD: the same continuous flow (one ODENet of ConcatSquash
3 x 64, tanh, on t in [0, 1]; dopri5 at rtol = atol = 1e-5; the exact trace in
evaluation), trained by maximum likelihood (FFJORD: an ODE solve per step, Hutchinson's
trace) or by flow-matching regression (no solve), on two moons (noise 0.05, standardised)
or on digits as 64-dim vectors (`--data digits`: 17 levels, uniformly dequantized, logit(0.05 +
0.9 y) and ActNorm in front, as `bj.flows.dequantized` puts them; NLL -log P(x) of the
integer pixels by the dequantization bound, in nats per image; 250 validation images, the
359 test images, 500 samples).

Each trains for `--budget` training seconds (evaluation not counted) at batch 512, Adam
at lr 1e-3 (FFJORD's configs/moons-ffjord.yaml uses 5e-3 with a cosine schedule over 2,000
steps; here both run the same constant rate, not tuned for either: `--lr` to change),
one thread, three seeds. Every `--every` training seconds the exact validation NLL (2,000
points) is measured; at the end the exact test NLL (5,000 points) of the best validated
weights. Reported: FFJORD's final test NLL, the training seconds flow matching takes to
reach FFJORD's final validation NLL, and both models' sampling speed (samples per second
through the ODE, 5,000 samples), flow matching's also at equal NLL: with the first weights
that reached FFJORD's final validation NLL.

    python benchmarks/flow_matching.py [--budget 240] [--seeds 0 1 2]
    python benchmarks/flow_matching.py --data digits --budget 300 --every 30 --seeds 0

-> results/flow_matching.{md,json} (digits: flow_matching_digits)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from functools import partial

import torch
from report import save

import bijective as bj
from bijective.objectives import training_loss


def evaluate(flow: bj.Flow, x: torch.Tensor) -> float:
    flow.eval()
    with torch.no_grad():
        nll = -flow.log_prob(x).mean().item()
    flow.train()
    return nll


def rate(flow: bj.Flow, n: int) -> float:
    """Samples per second through the ODE."""
    flow.eval()
    with torch.no_grad():
        started = time.perf_counter()
        flow.sample((n,))
        return n / (time.perf_counter() - started)


def run(kind: str, data_name: str, seed: int, budget: float, every: float, lr: float,
        target: float | None = None) -> dict:  # fmt: skip
    """One model's run; `target` (FFJORD's final validation NLL): keep the first weights
    that reach it, to time sampling at equal NLL."""
    torch.manual_seed(seed)
    digits = data_name == "digits"
    data = bj.data.load("digits") if digits else bj.data.load("moons", noise=0.05)
    val, n = (data.val.x[:250], 500) if digits else (data.val.x[:2000], 5000)
    features = data.train.x.shape[1]
    options = {"hidden": (64, 64, 64)} if not digits else {"hidden": (256, 256, 256)}
    if kind == "ffjord":
        flow = bj.flows.FFJORD(features, **options)
    else:
        flow = bj.flows.FlowMatching(features, path="ot", **options)
    if digits:
        flow = bj.flows.dequantized(flow, data.levels, "uniform", 0.05)
    loss_of = partial(training_loss, flow)
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    trained, since, curve, best = 0.0, 0.0, [], (float("inf"), None)
    reached, matched = None, None  # when the target was first met, and those weights
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
            if target is not None and reached is None and nll <= target:
                reached, matched = trained, copy.deepcopy(flow.state_dict())
            print(f"{kind} seed {seed}: {trained:.0f} s, val NLL {nll:.4f}", flush=True)
    at_target = None
    if matched is not None:
        flow.load_state_dict(matched)
        at_target = rate(flow, n)
    flow.load_state_dict(best[1])
    test = evaluate(flow, data.test.x)
    return {"kind": kind, "seed": seed, "curve": curve, "test_nll": test, "best_val_nll": best[0],
            "samples_per_second": rate(flow, n), "seconds_to_ffjord": reached,
            "samples_per_second_at_target": at_target}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=240.0)
    parser.add_argument("--every", type=float, default=20.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", choices=["moons", "digits"], default="moons")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        rows.append(run("ffjord", args.data, seed, args.budget, args.every, args.lr))
        target = rows[-1]["best_val_nll"]
        rows.append(run("fm", args.data, seed, args.budget, args.every, args.lr, target))
    cells = []
    for seed in args.seeds:
        ffjord, fm = (
            next(r for r in rows if r["kind"] == k and r["seed"] == seed) for k in ("ffjord", "fm")
        )
        target = ffjord["best_val_nll"]
        reached = fm["seconds_to_ffjord"]
        cells.append([str(seed), f"{ffjord['test_nll']:.4f}", f"{fm['test_nll']:.4f}",
                      f"{target:.4f}", "not reached" if reached is None else f"{reached:.0f}",
                      f"{args.budget:.0f}", f"{ffjord['samples_per_second']:.0f}",
                      f"{fm['samples_per_second']:.0f}",
                      "-" if reached is None else f"{fm['samples_per_second_at_target']:.0f}"])  # fmt: skip
    header = ["seed", "FFJORD test NLL", "flow matching test NLL", "FFJORD best val NLL",
              "flow matching s to reach it", "budget s (each)", "FFJORD samples / s",
              "flow matching samples / s", "flow matching samples / s at FFJORD's NLL"]  # fmt: skip
    ratios = [args.budget / r["seconds_to_ffjord"] for r in rows if r.get("seconds_to_ffjord")]
    notes = (f"Median speed-up in training time to FFJORD's final validation NLL: "
             f"{statistics.median(ratios):.1f}x (over the seeds where it was reached; "
             f"FFJORD's time is its whole budget, an upper bound of its own time)." if ratios else
             "Flow matching did not reach FFJORD's final validation NLL within the budget.")  # fmt: skip
    settings = {"data": args.data, "threads": 1, "budget_seconds": args.budget, "lr": args.lr,
                "batch": 512}  # fmt: skip
    name = "flow_matching" if args.data == "moons" else f"flow_matching_{args.data}"
    save(name, settings, rows, header, cells, notes)


if __name__ == "__main__":
    main()
