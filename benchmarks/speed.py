"""Speed against nflows, zuko and normflows, with a plain-PyTorch floor (speed_models.py).

For every case, each library's model is built with the same architecture (parameter
counts printed), then timed in one process, libraries alternating within every round
after warm-up. Reported per call: the median over rounds and the interquartile range of
  train     one step: loss (NLL, or reverse KL for the variational case), backward, and
            torch.optim.Adam's step (the same optimizer, fused where torch offers it, for all);
  log_prob  log p(x) of a batch, no gradients;
  sample    a batch of samples, no gradients (the variational case: sample_and_log_prob);
and the peak memory a training step allocates (torch's allocations, from the profiler).
Targets (issue 6) are checked from the medians of this one run and written beside them.

    pip install -e .[bench] && python benchmarks/speed.py [--threads 2] [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

# Compile from scratch every run, so the reported compile time is what a new user pays.
os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")

import torch  # noqa: E402
from compare import PEERS  # noqa: E402
from report import RESULTS, save  # noqa: E402
from speed_models import COMPILE_CRASHES, Case, Model, cases, energy  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

METRICS = ("train", "log_prob", "sample")
# metric -> required speed-up over the fastest peer; MAF D=64 sampling asks for 5x.
TARGET = {"train": 1.5, "log_prob": 2.0, "sample": 2.0}
FLOOR_TARGET = {"train": 1.5, "log_prob": 1.5}


def step_fn(case: Case, model: Model) -> Callable[[], None] | None:
    """One optimisation step on a fixed batch (density) or a fresh sample (variational)."""
    params = [p for p in model.module.parameters() if p.requires_grad]
    try:
        opt = torch.optim.Adam(params, lr=1e-4, fused=True)
    except (RuntimeError, TypeError):
        opt = torch.optim.Adam(params, lr=1e-4, foreach=True)
    if case.variational:
        if model.sample_and_log_prob is None:
            return None

        def loss() -> torch.Tensor:
            x, log_q = model.sample_and_log_prob(case.batch)
            return (log_q - energy(x)).mean()
    else:
        if model.log_prob is None:
            return None
        x = data(case)
        loss = lambda: -model.log_prob(x).mean()  # noqa: E731

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss().backward()
        opt.step()

    return step


DEVICE = torch.device("cpu")


def data(case: Case) -> torch.Tensor:
    x = torch.randn(case.batch, case.features, generator=torch.Generator().manual_seed(1))
    return x.to(DEVICE)


def sync() -> None:
    """Waits for the GPU's queued work, so a timing covers it."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def no_grad(fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            fn()

    return run


def calls(case: Case, model: Model) -> dict[str, Callable[[], None] | None]:
    x = data(case)
    sample = model.sample_and_log_prob if case.variational else model.sample
    return {
        "train": step_fn(case, model),
        "log_prob": None
        if case.variational or model.log_prob is None
        else no_grad(lambda: model.log_prob(x)),
        "sample": None if sample is None else no_grad(lambda: sample(case.batch)),
    }


def peak_memory(fn: Callable[[], None]) -> float:
    """MiB in use at the peak of one call, above what was allocated when it started (on a
    GPU, from torch.cuda's peak statistics)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    current = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        current += e.nbytes()
        peak = max(peak, current)
    return peak / 2**20


def time_case(case: Case, rounds: int, budget: float) -> dict[str, dict]:
    # Every case compiles the same methods (Flow.log_prob ...): start each from nothing, so
    # no case runs into dynamo's recompile limit and silently falls back to eager.
    torch._dynamo.reset()
    torch.manual_seed(0)
    models = {lib: build(case.features) for lib, build in case.builders.items()}
    for m in models.values():
        m.module.to(DEVICE)
    fns = {lib: calls(case, m) for lib, m in models.items()}
    out: dict[str, dict] = {}
    for lib, m in models.items():
        count = sum(p.numel() for p in m.module.parameters() if p.requires_grad)
        out[lib] = {"params": count}
        print(f"  {lib:10s} {count:9,d} parameters")
    for metric in METRICS:
        runners = {lib: f[metric] for lib, f in fns.items() if f[metric] is not None}
        if not runners:
            continue
        reps = {}
        for lib, fn in runners.items():  # warm-up, and calls per timing so each lasts ~budget
            start = time.perf_counter()
            fn()
            sync()
            out[lib].setdefault("first_call_s", {})[metric] = time.perf_counter() - start
            start = time.perf_counter()
            fn()
            sync()
            reps[lib] = max(1, round(budget / (time.perf_counter() - start)))
        times: dict[str, list[float]] = {lib: [] for lib in runners}
        order = list(runners)
        for r in range(rounds):
            for lib in order[r % len(order) :] + order[: r % len(order)]:
                start = time.perf_counter()
                for _ in range(reps[lib]):
                    runners[lib]()
                sync()
                times[lib].append((time.perf_counter() - start) / reps[lib])
        for lib, ts in times.items():
            q1, med, q3 = statistics.quantiles(ts, n=4) if len(ts) > 1 else (ts[0],) * 3
            out[lib][metric] = {"median_ms": 1e3 * med, "q1_ms": 1e3 * q1, "q3_ms": 1e3 * q3}
        if metric == "train":
            for lib, fn in runners.items():
                out[lib]["peak_mib"] = peak_memory(fn)
    return out


def targets(case: Case, result: dict[str, dict]) -> list[dict]:
    """Each target of issue 6 for this case: the ratio reached, the ratio asked, met or not."""
    checks = []
    ours = result["bijective"]
    for metric in METRICS:
        if metric not in ours:
            continue
        peers = [result[p][metric]["median_ms"] for p in PEERS if metric in result.get(p, {})]
        asked = 5.0 if (metric == "sample" and case.name == "MAF D=64") else TARGET[metric]
        if peers:
            ratio = min(peers) / ours[metric]["median_ms"]
            checks.append(_check(case, f"{metric}: x faster than the fastest peer", ratio, asked))
        if metric in FLOOR_TARGET and metric in result["floor"]:
            ratio = result["floor"][metric]["median_ms"] / ours[metric]["median_ms"]
            # within 1.5x of the floor <=> floor / ours >= 1 / 1.5
            checks.append(_check(case, f"{metric}: floor / ours", ratio, 1 / FLOOR_TARGET[metric]))
    peers = [result[p]["peak_mib"] for p in PEERS if "peak_mib" in result.get(p, {})]
    if peers:
        ratio = min(peers) / max(ours["peak_mib"], 1e-9)
        checks.append(_check(case, "memory: lowest peer / ours", ratio, 1.0))
    return checks


def _check(case: Case, what: str, ratio: float, asked: float) -> dict:
    return {
        "case": case.name,
        "target": what,
        "ratio": ratio,
        "asked": asked,
        "met": ratio >= asked,
    }


def cell(result: dict, metric: str, batch: int) -> str:
    if metric not in result:
        return "n/a"
    m = result[metric]
    rate = batch / m["median_ms"]  # thousands per second
    return f"{m['median_ms']:.2f} ({m['q1_ms']:.2f}-{m['q3_ms']:.2f}); {rate:,.0f}k/s"


def plot(results: dict[str, dict], name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    libs = ["bijective", "bijective+compile", *PEERS, "floor"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    names = list(results)
    width = 0.8 / len(libs)
    for ax, metric in zip(axes, METRICS, strict=True):
        for i, lib in enumerate(libs):
            values = [
                results[c].get(lib, {}).get(metric, {}).get("median_ms", float("nan"))
                for c in names
            ]
            ax.bar([j + i * width for j in range(len(names))], values, width, label=lib)
        ax.set_yscale("log")
        ax.set_title(f"{metric} (ms per batch, lower is better)")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))])
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--budget", type=float, default=0.05, help="seconds per timing")
    parser.add_argument("--cases", nargs="*", help="case names to run (default: all)")
    parser.add_argument("--name", default="speed", help="results file name")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--peers-compiled", action="store_true", help="also time each peer under torch.compile"
    )
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    results, checks, cells = {}, [], []
    for case in cases(args.peers_compiled):
        if args.cases and case.name not in args.cases:
            continue
        print(case.name)
        result = time_case(case, args.rounds, args.budget)
        results[case.name] = result
        checks += targets(case, result)
        for lib, r in result.items():
            row = [case.name, lib, f"{r['params']:,}"]
            row += [cell(r, m, case.batch) for m in METRICS]
            row.append(f"{r['peak_mib']:.1f}" if "peak_mib" in r else "n/a")
            cells.append(row)
            print("   ", " | ".join(row[1:]))
    header = ["case", "library", "parameters", "train ms", "log_prob ms", "sample ms", "peak MiB"]
    settings = {"rounds": args.rounds, "budget_s": args.budget, "targets": checks}
    save(args.name, settings, [{"case": k, **v} for k, v in results.items()], header, cells)
    lines = ["", "torch.compile (first call = compile; break-even = calls before it pays off):", ""]
    if args.peers_compiled:
        lines += [
            "Left out: "
            + ", ".join(f"{lib}+compile on {case}" for lib, case in sorted(COMPILE_CRASHES))
            + " (the process aborts with heap corruption; speed_models.COMPILE_CRASHES).",
            "",
        ]
    lines += ["| case | library | metric | first call s | eager ms | compiled ms | break-even |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for lib in ("bijective", *PEERS):
            eager, comp = r.get(lib, {}), r.get(f"{lib}+compile", {})
            for m in METRICS:
                if m in comp and m in eager:
                    gain = eager[m]["median_ms"] - comp[m]["median_ms"]
                    first = comp["first_call_s"][m]
                    even = f"{1e3 * first / gain:,.0f}" if gain > 0 else "never"
                    lines.append(
                        f"| {name} | {lib} | {m} | {first:.1f} | {eager[m]['median_ms']:.2f} | "
                        f"{comp[m]['median_ms']:.2f} | {even} |"
                    )
    lines += ["", "| case | target | reached | asked | met |", "|---|---|---|---|---|"]
    lines += [
        f"| {c['case']} | {c['target']} | {c['ratio']:.2f} | {c['asked']:.2f} | "
        f"{'yes' if c['met'] else 'NO'} |"
        for c in checks
    ]
    with open(RESULTS / f"{args.name}.md", "a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(results, args.name)


if __name__ == "__main__":
    main()
