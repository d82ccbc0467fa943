"""Speed against nflows, zuko and normflows, with a plain-PyTorch floor (speed_models.py).

Equal recipe: for every case, each library's model is built with the same architecture
(parameter counts printed; a peer more than 5% off ours gets no verdict), then timed in
one process at the same thread count (`--threads`, 1 by default: bijective's own choice for
vector models), libraries alternating within every round after warm-up:
  train     one step: loss (NLL, or reverse KL for the variational case), backward, and
            torch.optim.Adam's step (the same optimizer, fused where torch offers it, for all);
  log_prob  log p(x) of a batch, no gradients;
  sample    a batch of samples, no gradients (the variational case: sample_and_log_prob);
and the peak memory a training step allocates (torch's allocations, from the profiler).
Out of the box ("(defaults)" cases): each library's documented model at the same depth and
width, at its default thread count (bijective: 1 by `train.threads: auto`; the peers:
torch's default, every core), so architectures differ: it compares defaults.

The whole measurement runs `--repeats` times (3), each in its own process; a cell is the
median over processes of each process's median per call, with the min-max. The verdicts
compare bijective with the fastest peer: the ratio of times, its range over processes,
and "level" where that range holds 1.0.

    pip install -e .[bench] && python benchmarks/speed.py [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

# Compile from scratch every run, so the reported compile time is what a new user pays.
os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")

import torch  # noqa: E402
from compare import PEERS, in_process, ratio, ratio_cell, require, spread  # noqa: E402
from report import RESULTS, markdown, write  # noqa: E402
from speed_models import COMPILE_CRASHES, Case, Model, cases, energy  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

METRICS = ("train", "log_prob", "sample")


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


def pinned(fn: Callable[[], None], threads: int) -> Callable[[], None]:
    """`fn` run at `threads` torch threads (libraries of one case may differ)."""

    def run() -> None:
        torch.set_num_threads(threads)
        fn()

    return run


def time_case(case: Case, rounds: int, budget: float, threads: dict[str, int]) -> dict[str, dict]:
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
        print(f"  {lib:10s} {count:9,d} parameters", file=sys.stderr)
    for metric in METRICS:
        runners = {
            lib: pinned(f[metric], threads[lib]) for lib, f in fns.items() if f[metric] is not None
        }
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


def verdicts(results: dict[str, dict], equal_size: bool = True) -> list[list[str]]:
    """Per case and metric: bijective against the fastest peer (of equal size, unless
    `equal_size` is False: the defaults compared): the ratio over processes, min-max,
    verdict; and the floor's time over ours."""
    out = []
    for name, result in results.items():
        ours = result["bijective"]
        for metric in METRICS:
            if metric not in ours:
                continue
            equal = {
                p: r
                for p, r in result.items()
                if p in PEERS
                and metric in r
                and (not equal_size or abs(r["params"] / ours["params"] - 1) <= 0.05)
            }
            unequal = [p for p in PEERS if p in result and metric in result[p] and p not in equal]
            note = (
                f"; {', '.join(unequal)}: parameters differ by > 5%, no verdict" if unequal else ""
            )
            if not equal:
                out.append([name, metric, "-", "no peer of equal size" + note, "-"])
                continue
            fastest = min(equal, key=lambda p: statistics.median(equal[p][metric]))
            floor = ""
            if metric in result.get("floor", {}):
                floor = f"{ratio(ours[metric], result['floor'][metric])[0]:.2f}"
            out.append(
                [
                    name,
                    metric,
                    fastest,
                    ratio_cell(ours[metric], equal[fastest][metric]) + note,
                    floor,
                ]
            )
    return out


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
                statistics.median(results[c].get(lib, {}).get(metric, [float("nan")]))
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


def measure(args: argparse.Namespace) -> dict[str, dict]:
    """One process's measurement: {case: {library: {params, first_call_s, peak_mib,
    METRIC: {median_ms, q1_ms, q3_ms}}}}."""
    results = {}
    for case in cases(args.compile, args.peers_compiled):
        if args.cases and case.name not in args.cases:
            continue
        threads = {lib: args.threads for lib in case.builders}
        if case.defaults:
            threads = {lib: 1 if lib == "bijective" else os.cpu_count() or 1 for lib in threads}
        print(case.name, file=sys.stderr, flush=True)
        results[case.name] = time_case(case, args.rounds, args.budget, threads)
        for lib, r in results[case.name].items():
            r["threads"] = threads[lib]
    return results


def gather(runs: list[dict[str, dict]]) -> dict[str, dict]:
    """Processes' results merged: each metric a list of per-process medians (ms)."""
    merged: dict[str, dict] = {}
    for run in runs:
        for name, result in run.items():
            for lib, r in result.items():
                cell = merged.setdefault(name, {}).setdefault(
                    lib, {"params": r["params"], "threads": r["threads"], "peak_mib": []}
                )
                for metric in METRICS:
                    if metric in r:
                        cell.setdefault(metric, []).append(r[metric]["median_ms"])
                if "peak_mib" in r:
                    cell["peak_mib"].append(r["peak_mib"])
                for metric, first in r.get("first_call_s", {}).items():
                    cell.setdefault("first_call_s", {}).setdefault(metric, []).append(first)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=3, help="processes, each a full run")
    parser.add_argument("--budget", type=float, default=0.05, help="seconds per timing")
    parser.add_argument("--cases", nargs="*", help="case names to run (default: all)")
    parser.add_argument("--name", default="speed", help="results file name")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--compile", action="store_true", help="also time ours under torch.compile")
    parser.add_argument(
        "--peers-compiled", action="store_true", help="also time each peer under torch.compile"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    require(*PEERS)
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.worker:
        print(json.dumps(measure(args)), flush=True)
        return
    forwarded = [a for a in sys.argv[1:] if a != "--worker"]
    runs = []
    for i in range(args.repeats):
        print(f"process {i + 1} of {args.repeats}", flush=True)
        runs.append(in_process(__file__, *forwarded, "--worker"))
    results = gather(runs)
    cells = []
    for name, result in results.items():
        for lib, r in result.items():
            row = [name, lib, f"{r['params']:,}", str(r["threads"])]
            row += [spread(r[m]) if m in r else "n/a" for m in METRICS]
            row.append(f"{statistics.median(r['peak_mib']):.1f}" if r["peak_mib"] else "n/a")
            cells.append(row)
    header = ["case", "library", "parameters", "threads"]
    header += [f"{m} ms, median (min-max)" for m in METRICS] + ["peak MiB"]
    equal = [c for c in cells if not c[0].endswith("(defaults)")]
    defaults = [c for c in cells if c[0].endswith("(defaults)")]
    judged = verdicts({k: v for k, v in results.items() if not k.endswith("(defaults)")})
    judged_defaults = verdicts(
        {k: v for k, v in results.items() if k.endswith("(defaults)")}, equal_size=False
    )
    verdict_header = [
        "case",
        "metric",
        "fastest peer",
        "peer / bijective (min-max)",
        "floor / bijective",
    ]
    sections = [
        f"Medians over {args.repeats} processes of each process's median per call "
        f"({args.rounds} rounds), batch 512 (planar 4096).",
        f"### Equal recipe: same architecture, optimizer and data, {args.threads} thread(s) each",
        markdown(header, equal),
        "### Equal recipe: bijective against the fastest peer of equal size",
        markdown(verdict_header, judged),
        "### Out of the box: each library's documented model and default threads "
        "(compares defaults; architectures differ)",
        markdown(header, defaults),
        markdown(verdict_header, judged_defaults),
    ]
    compiled = compile_table(results, args.peers_compiled)
    if compiled:
        sections += compiled
    settings = {"rounds": args.rounds, "budget_s": args.budget, "repeats": args.repeats}
    settings |= {"threads": "per row (the rows' threads)"}
    write(
        args.name,
        settings | {"threads_equal": args.threads},
        [{"case": k, **v} for k, v in results.items()],
        "\n\n".join(sections),
    )
    print("\n\n".join(sections))
    plot({k: v for k, v in results.items() if not k.endswith("(defaults)")}, args.name)


def compile_table(results: dict[str, dict], peers_compiled: bool) -> list[str]:
    """What torch.compile gives (first call = compile; break-even = calls to pay it back)."""
    lines = ["| case | library | metric | first call s | eager ms | compiled ms | break-even |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for lib in ("bijective", *PEERS):
            eager, comp = r.get(lib, {}), r.get(f"{lib}+compile", {})
            for m in METRICS:
                if m in comp and m in eager:
                    gain = statistics.median(eager[m]) - statistics.median(comp[m])
                    first = statistics.median(comp["first_call_s"][m])
                    even = f"{1e3 * first / gain:,.0f}" if gain > 0 else "never"
                    lines.append(
                        f"| {name} | {lib} | {m} | {first:.1f} | {spread(eager[m])} | "
                        f"{spread(comp[m])} | {even} |"
                    )
    if len(lines) == 2:
        return []
    left_out = ""
    if peers_compiled:
        left_out = (
            "Left out: "
            + ", ".join(f"{lib}+compile on {case}" for lib, case in sorted(COMPILE_CRASHES))
            + " (the process aborts with heap corruption; speed_models.COMPILE_CRASHES)."
        )
    return ["### torch.compile", left_out, "\n".join(lines)]


if __name__ == "__main__":
    main()
