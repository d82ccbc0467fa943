"""The autoregressive family beside VAEs and a dequantized flow, on the same binarised
images, at the same CPU budget: FVSBN, NADE, MADE (1 mask, 8 masks), PixelCNN, Gated
PixelCNN, LSTM, Transformer, VAE (diagonal, IAF-4 posterior) and MAF. Test NLL in nats per image
(exact for the autoregressive models, importance-sampled for the VAEs, the dequantization
bound for MAF), parameters, training time per epoch, sampling time per image.

Every row trains its committed config (configs/autoregressive/, configs/vae/) through
bj.train for as many steps as fit `--budget` training seconds on this machine, the cosine
schedule stretched to them and the best validated weights kept: an equal CPU budget per
row. The seconds per step are measured first by two probe runs of bj.train's loop (N
and 2N steps, about PROBE_SECONDS and twice that, draws and bookkeeping included,
validation timed apart; their difference cancels the start-up) at the thread count the
row trains with (`train.threads: auto`: 1 for vectors, the free cores for
images); steps = budget / that (at least 100, at most --most-steps, 30,000 by default). Every row runs eagerly
(train.compile false), so the probe measures the steps the run takes. The table then gives the measured training seconds (validation and
evaluation excluded) beside the budget, and flags a row more than 10% off it.

The papers' numbers are in a second table, apart: they were measured on another
training set, binarisation and compute, and are not comparable with the first.

    python benchmarks/autoregressive.py table --data mnist --budget 150
    python benchmarks/autoregressive.py table --data fashion-mnist --budget 100
    python benchmarks/autoregressive.py table --data mnist --budget 600 --most-steps 150000 \
        --name autoregressive_600s --rows fvsbn nade made made-masks pixelcnn gated-pixelcnn lstm
    python benchmarks/autoregressive.py speed     # NADE step, cached PixelCNN and MAF sampling (3 processes)
    python benchmarks/autoregressive.py text --budget 300 [--data-dir DIR]  # LSTM, Transformer, n-grams

-> results/autoregressive.md (table), autoregressive_speed.md, autoregressive_text.md
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from quiet_fit import fit_quietly
from report import RESULTS, markdown, save, write

import bijective as bj
import bijective.train as T
import bijective.train.run  # noqa: F401  (T.run: ValidationClock wraps its build)
from bijective.train.loop import make_optimizer
from bijective.train.threads import auto_threads, using_threads

CONFIGS = Path(__file__).parent.parent / "configs"
MODELS = [
    "fvsbn",
    "nade",
    "made",
    "made-masks",
    "pixelcnn",
    "gated-pixelcnn",
    "lstm",
    "transformer",
    "maf",
]
VAES = ["vae-diagonal", "vae-iaf-4"]
PROBE_SECONDS = 8.0  # of the real loop (N steps; then 2N), to measure seconds per step


def config_of(data: str, row: str, overrides: list[str]) -> T.Config:
    """A row's committed config, eager (train.compile false: `auto` would compile the long
    rows after the probe measured eager steps, so their budget would not hold)."""
    overrides = ["train.compile=false", *overrides]
    if row in VAES:  # the MNIST VAE configs, pointed at the data set
        path = CONFIGS / "vae" / f"mnist-{row}.yaml"
        overrides = [f"data.name={data}", f"name={data}-{row}", *overrides]
        if data != "mnist":  # 1,000 importance samples on 10,000 test images is too long
            overrides.append("train.importance_samples=100")
        return T.load_config(path, overrides)
    return T.load_config(CONFIGS / "autoregressive" / f"{data}-{row}.yaml", overrides)


def threads_of(config: T.Config, model: torch.nn.Module) -> int:
    """The thread count bj.train will train this row with."""
    return auto_threads(model) if config.train.threads == "auto" else config.train.threads


def seconds_per_step(config: T.Config) -> tuple[float, int]:
    """(seconds per step of bj.train's loop on this row, validation excluded; the thread
    count it ran at: the row's own). A quick estimate from 15 optimizer steps (after 3
    warm-up steps) sizes N (about PROBE_SECONDS of steps, 20 to 2,000); probe runs of the
    real loop, draws and bookkeeping included, of N and 2N steps give it by difference."""
    experiment = T.build(config)
    model, generator = experiment.model.train(), torch.Generator().manual_seed(0)
    optimizer = make_optimizer(model, config.train)
    threads, times = threads_of(config, model), []
    with using_threads(threads):
        for step in range(18):
            batch = experiment.draw(generator, step)
            started = time.perf_counter()
            optimizer.zero_grad()
            experiment.loss(model, batch).backward()
            optimizer.step()
            times.append(time.perf_counter() - started)
    steps = int(min(2000, max(20, PROBE_SECONDS / statistics.median(times[3:]))))
    # Two probe runs, of N and 2N steps: their difference is N steps of the steady loop,
    # the start-up costs (allocations, lazy initialisation) cancelling.
    short, long = (_loop_seconds(config, n) for n in (steps, 2 * steps))
    return (long - short) / steps, threads


def _loop_seconds(config: T.Config, steps: int) -> float:
    """Seconds of bj.train's loop for `steps` steps of this row, its one validation
    excluded."""
    probe = config.model_dump(mode="json")
    probe["train"] |= {"steps": steps, "eval_every": steps, "checkpoint_every": steps}
    clock = ValidationClock()
    experiment = clock(T.parse_config(probe))
    return fit_quietly(experiment, experiment.validate).seconds - clock.seconds


class ValidationClock:
    """bj.train's experiments with their validation timed, so that a run's training
    seconds can be told from its evaluation seconds."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.build = T.run.build

    def __call__(self, config: T.Config) -> T.Experiment:
        experiment = self.build(config)
        validate = experiment.validate

        def timed(model: torch.nn.Module) -> float:
            started = time.perf_counter()
            try:
                return validate(model)
            finally:
                self.seconds += time.perf_counter() - started

        experiment.validate = timed
        return experiment


def sampling_seconds(experiment: T.Experiment, n: int = 16) -> float:
    started = time.perf_counter()
    with experiment.seeded(0):
        experiment.sample(n)
    return (time.perf_counter() - started) / n


def table(data: str, budget: float, rows: list[str], name: str, most_steps: int) -> None:
    path = RESULTS / f"{name}.json"
    previous = json.loads(path.read_text())["rows"] if path.exists() else []
    kept = [r for r in previous if r["data"] != data or r["row"] not in rows]
    results = []
    with tempfile.TemporaryDirectory() as runs:
        for row in rows:
            probe = config_of(data, row, [])
            per_step, threads = seconds_per_step(probe)
            steps = max(100, min(most_steps, int(budget / per_step)))
            every = max(steps // 8, 1)
            overrides = [f"train.steps={steps}", f"train.eval_every={every}"]
            config = config_of(data, row, [*overrides, f"train.checkpoint_every={steps}"])
            out = Path(runs) / config.name
            clock = ValidationClock()
            T.run.build = clock
            try:
                r = T.train(config, out, log=lambda _: None)
            finally:
                T.run.build = clock.build
            experiment = T.open_run(out)
            train_size = len(experiment.data.train)
            r |= {
                "row": row,
                "data": data,
                "seconds_per_step": per_step,
                "threads": threads,
                "budget_seconds": budget,
                "training_seconds": r["train_seconds"] - clock.seconds,
                "validation_seconds": clock.seconds,
                "seconds_per_epoch": (r["train_seconds"] - clock.seconds)
                / r["steps"]
                * train_size
                / config.train.batch,
                "sample_ms_per_image": 1000 * sampling_seconds(experiment),
            }
            results.append(r)
            print(
                f"{data} {row}: test NLL {r['test_nll']:.2f} nats, {r['steps']} steps "
                f"({r['training_seconds']:.0f} s training), {r['sample_ms_per_image']:.1f} ms/sample",
                flush=True,
            )
            write_table(kept + results, name)


# The papers' numbers on binarised MNIST: (model, -log p(x) nats, source, training images,
# binarisation). Test set: the standard 10,000 images in each. Not comparable with the
# table above (3,600 training images of a 5,000-image subset, 1,000 test images, dynamic
# binarisation, a CPU budget of minutes per row).
PUBLISHED = [
    ("FVSBN", 97.45, "Gan et al. 2015", "50,000", "static"),
    ("NADE", 88.33, "Larochelle & Murray 2011", "50,000", "static (Salakhutdinov & Murray 2008)"),
    (
        "MADE, 1 mask",
        88.04,
        "Germain et al. 2015",
        "50,000",
        "static (Salakhutdinov & Murray 2008)",
    ),
    (
        "MADE, 32 masks",
        86.64,
        "Germain et al. 2015",
        "50,000",
        "static (Salakhutdinov & Murray 2008)",
    ),
    (
        "PixelCNN",
        81.30,
        "van den Oord et al. 2016",
        "50,000",
        "static (Salakhutdinov & Murray 2008)",
    ),
    (
        "PixelRNN",
        79.20,
        "van den Oord et al. 2016",
        "50,000",
        "static (Salakhutdinov & Murray 2008)",
    ),
]


def write_table(rows: list[dict], name: str) -> None:
    order = [*MODELS, *VAES]
    rows = sorted(rows, key=lambda r: (r["data"] != "mnist", order.index(r["row"])))
    header = ["data", "model", "test NLL (nats)", "parameters", "steps (best)", "threads",
              "training s (measured)", "budget s", "s / epoch", "sample ms / image", "NLL kind"]  # fmt: skip
    kinds = {"vae": "importance-sampled (IWAE bound)", "maf": "dequantization bound"}

    def measured(r: dict) -> str:
        if "training_seconds" not in r:  # a row from before the budget was measured
            return f"{r['train_seconds']:.0f} with validation (not measured apart)"
        off = r["training_seconds"] / r["budget_seconds"] - 1
        flag = f" ({off:+.0%} off budget)" if abs(off) > 0.10 else ""
        return f"{r['training_seconds']:.0f}{flag}"

    cells = [
        [
            r["data"],
            r["row"],
            f"{r['test_nll']:.2f}",
            f"{r['parameters']:,}",
            f"{r['steps']} ({r['best_step']})",
            str(r.get("threads", "2 (probe), auto (training)")),
            measured(r),
            f"{r.get('budget_seconds', 150):.0f}",
            f"{r['seconds_per_epoch']:.1f}",
            f"{r['sample_ms_per_image']:.1f}",
            kinds.get(r["model"], "exact"),
        ]
        for r in rows
    ]
    published = [
        [
            model,
            f"{nll:.2f}",
            source,
            train,
            binarised,
            "10,000 (standard)",
            "not comparable: see the paper",
        ]
        for model, nll, source, train, binarised in PUBLISHED
    ]
    text = "\n\n".join(
        [
            "### This library, a CPU budget per row (rows from before training seconds were measured apart say so)",
            markdown(header, cells),
            "### Published numbers, binarised MNIST: not comparable with the table above",
            "The table above trains on 3,600 images of a 5,000-image MNIST subset (1,000 test "
            "images, dynamic binarisation, minutes of CPU per row); these were trained on the full "
            "training set for far longer, on other binarisations.",
            markdown(
                [
                    "model",
                    "test NLL (nats)",
                    "source",
                    "training images",
                    "binarisation",
                    "test images",
                    "compute",
                ],
                published,
            ),
        ]
    )
    settings = {"test_set": "binarised once, seeded by data.seed + 2"}
    write(name, settings, rows, text)


def nade_reference(model: bj.models.NADE, x: torch.Tensor) -> torch.Tensor:
    """NADE's logits the O(D^2 H) way: every h_i from scratch, c + W_{:,<i} x_<i."""
    logits = torch.empty(len(x), model.features)
    for i in range(model.features):
        h = torch.sigmoid(model.hidden_bias + x[:, :i] @ model.weight[:, :i].T)
        logits[:, i] = h @ model.out_weight[i, :, 0] + model.out_bias[i, 0]
    return logits


def best_of(function, repeats: int = 3) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def median_ratio(slow, fast, repeats: int) -> tuple[float, float, float]:  # noqa: ANN001
    """(median of slow/fast over interleaved repeats, median slow s, median fast s)."""
    pairs = []
    for _ in range(repeats + 1):
        a, b = best_of(slow, 1), best_of(fast, 1)
        pairs.append((a / b, a, b))
    pairs = pairs[1:]  # the first pair warms up
    return tuple(statistics.median(p[i] for p in pairs) for i in range(3))  # type: ignore[return-value]


def nade_step_reference(model: bj.models.NADE, x: torch.Tensor) -> torch.Tensor:
    """NADE's log p with plain autograd over the materialised (N, D, H) pre-activations
    a_k = c + sum_{j<k} W_j x_j (an exclusive cumulative sum): what autograd keeps when
    no custom node is used."""
    terms = x[:, :, None] * model.weight.T
    a = model.hidden_bias + terms.cumsum(1) - terms
    logits = torch.einsum("ndh,dh->nd", torch.sigmoid(a), model.out_weight[..., 0])
    logits = logits + model.out_bias[:, 0]
    return -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(
        -1
    )


def training_step(model: torch.nn.Module, log_prob, x: torch.Tensor):  # noqa: ANN001, ANN201
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)

    def step() -> None:
        optimizer.zero_grad()
        (-log_prob(x).mean()).backward()
        optimizer.step()

    return step


def speed_once() -> list[dict]:
    """One process's rows, on one thread; ratios are of timings interleaved in it."""
    torch.set_num_threads(1)
    rows = []
    torch.manual_seed(0)
    x = torch.randint(0, 2, (100, 784)).float()
    made, nade = bj.models.MADE(784, hidden=(500,)), bj.models.NADE(784, hidden=500)
    made_step = training_step(made, made.log_prob, x)
    ratio, slow, fast = median_ratio(training_step(nade, nade.log_prob, x), made_step, 10)
    rows.append({"case": "NADE training step, D=784, H=500, batch 100", "ratio": ratio,
                 "bijective_s": slow, "reference_s": fast,
                 "reference": "MADE (one hidden layer of 500) training step",
                 "ratio_is": "bijective / reference (issue 29: at most 3)"})  # fmt: skip
    reference = training_step(nade, partial(nade_step_reference, nade), x)
    ratio, slow, fast = median_ratio(reference, training_step(nade, nade.log_prob, x), 5)
    rows.append({"case": "NADE training step, D=784, H=500, batch 100", "ratio": ratio,
                 "bijective_s": fast, "reference_s": slow,
                 "reference": "plain autograd over the (N, D, H) pre-activations",
                 "ratio_is": "reference / bijective"})  # fmt: skip
    with torch.no_grad():
        for name, model in (
            ("PixelCNN 32ch x 5 blocks", bj.models.PixelCNN((1, 28, 28), channels=32, blocks=5)),
            ("Gated PixelCNN 32ch x 5 layers",
             bj.models.GatedPixelCNN((1, 28, 28), channels=32, layers=5)),
        ):  # fmt: skip
            model.eval()
            images = torch.zeros(16, 1, 28, 28)
            one_pass = statistics.median(
                best_of(partial(model.logits, images), 1) for _ in range(5)
            )
            cached = best_of(partial(model.sample, (16,)), 3)
            rows.append({"case": f"{name}: sample 16 binary images 28x28", "ratio": 784 * one_pass / cached,
                         "bijective_s": cached, "reference_s": 784 * one_pass,
                         "reference": "one full network pass per pixel (784 x a measured pass)",
                 "ratio_is": "reference / bijective (issue 29: at least 26)"})  # fmt: skip
        flow, z = bj.flows.MAF(64).eval(), torch.randn(512, 64)
        ratio, slow, fast = median_ratio(
            partial(flow.sample, (512,)), partial(flow.log_prob, z), 25
        )
        rows.append({"case": "MAF D=64 (5 layers, 128x2): sample 512 rows", "ratio": ratio,
                     "bijective_s": slow, "reference_s": fast,
                     "reference": "one log_prob pass over 512 rows (the floor)",
                 "ratio_is": "bijective / reference (issue 29: at most 5)"})  # fmt: skip
    for d in (196, 784, 1568):
        torch.manual_seed(0)
        model, x = bj.models.NADE(d, hidden=500).eval(), torch.randint(0, 2, (100, d)).float()
        with torch.no_grad():
            torch.testing.assert_close(
                model.logits(x), nade_reference(model, x), atol=1e-4, rtol=1e-4
            )
            fast = best_of(partial(model.logits, x))
            slow = best_of(partial(nade_reference, model, x), 1)
        rows.append({"case": f"NADE log_prob, D={d}, H=500, 100 rows", "ratio": slow / fast,
                     "bijective_s": fast, "reference_s": slow,
                     "reference": "O(D^2 H): each h_i from scratch",
                 "ratio_is": "reference / bijective"})  # fmt: skip
    return rows


def speed(processes: int = 3) -> None:
    """speed_once in `processes` separate processes, one after another; per case the
    median ratio and its range over the processes."""
    runs = []
    for _ in range(processes):
        out = subprocess.run([sys.executable, __file__, "speed-once"], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        runs.append(json.loads(out.strip().splitlines()[-1]))
        print(runs[-1], flush=True)
    rows = []
    for index, first in enumerate(runs[0]):
        ratios = sorted(run[index]["ratio"] for run in runs)
        seconds = [
            statistics.median(run[index][k] for run in runs) for k in ("bijective_s", "reference_s")
        ]
        rows.append(
            {**first, "ratios": ratios, "bijective_s": seconds[0], "reference_s": seconds[1]}
        )
    header = [
        "case",
        "bijective (s)",
        "reference (s)",
        "reference is",
        "ratio (range over processes)",
        "ratio is",
    ]
    cells = [
        [r["case"], f"{r['bijective_s']:.4f}", f"{r['reference_s']:.4f}",
         r["reference"], f"{statistics.median(r['ratios']):.1f} ({r['ratios'][0]:.1f}-{r['ratios'][-1]:.1f})",
         r["ratio_is"]]
        for r in rows
    ]  # fmt: skip
    settings = {"threads": 1, "processes": processes}
    save("autoregressive_speed", settings, rows, header, cells)


def ngram_bits(train: torch.Tensor, test: torch.Tensor, levels: int) -> tuple[float, float]:
    """Bits per character of add-one smoothed unigram and bigram models fitted on the
    training rows; as for the LSTM, a row's first character is predicted without context."""
    train, test = train.long(), test.long()
    unigram = (torch.bincount(train.flatten(), minlength=levels) + 1.0).log()
    unigram = unigram - unigram.logsumexp(0)
    pairs = train[:, :-1] * levels + train[:, 1:]
    bigram = (torch.bincount(pairs.flatten(), minlength=levels**2) + 1.0).log().view(levels, -1)
    bigram = bigram - bigram.logsumexp(1, keepdim=True)
    uni = -unigram[test].sum() / test.numel()
    bi = -(unigram[test[:, 0]].sum() + bigram[test[:, :-1], test[:, 1:]].sum()) / test.numel()
    return float(uni) / math.log(2), float(bi) / math.log(2)


TEXT_MODELS = {"lstm": "LSTM 2x256", "transformer": "Transformer 4x128"}


def text(budget: float, data_dir: str | None) -> None:
    """The character models of configs/autoregressive/fortunes-*.yaml at an equal training
    budget (steps sized by the probe, as in the table) beside the n-gram baselines."""
    place = ["train.threads=1", *([] if data_dir is None else [f"data.data_dir={data_dir}"])]
    data = bj.data.load("fortunes", length=128, data_dir=data_dir)
    unigram, bigram = ngram_bits(data.train.x, data.test.x, data.levels)
    rows = [
        {"model": "unigram (add-one)", "test_bits_per_char": unigram},
        {"model": "bigram (add-one)", "test_bits_per_char": bigram},
    ]
    for key, name in TEXT_MODELS.items():
        path = CONFIGS / "autoregressive" / f"fortunes-{key}.yaml"
        per_step, _ = seconds_per_step(T.load_config(path, place))
        steps = max(100, int(budget / per_step))
        overrides = [*place, f"train.steps={steps}", f"train.eval_every={max(steps // 8, 1)}"]
        with tempfile.TemporaryDirectory() as runs:
            r = T.train(T.load_config(path, overrides), Path(runs) / key, log=lambda _: None)
        rows.append({"model": f"{name}, {r['steps']} steps ({r['train_seconds']:.0f} s)",
                     "parameters": r["parameters"], "test_bits_per_char": r["test_bits_per_dim"],
                     "samples": r["text_samples"]})  # fmt: skip
        print(rows[-1], flush=True)
    header = ["model", "parameters", "test bits / character"]
    cells = [[r["model"], f"{r['parameters']:,}" if "parameters" in r else "",
              f"{r['test_bits_per_char']:.3f}"] for r in rows]  # fmt: skip
    corpus = "Debian fortunes" if data_dir is None else f"fortune files from {data_dir}"
    save("autoregressive_text", {"data": f"{corpus}, rows of 128", "budget_s": budget}, rows,
         header, cells)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["table", "speed", "speed-once", "text"])
    parser.add_argument("--data", default="mnist")
    parser.add_argument("--rows", nargs="+", default=MODELS + VAES)
    parser.add_argument("--budget", type=float, default=150.0, help="training seconds per row")
    parser.add_argument("--name", default="autoregressive", help="results/NAME.{md,json}")
    parser.add_argument("--most-steps", type=int, default=30_000, help="a row's step cap")
    parser.add_argument("--data-dir", help="text: the fortune files' folder (default Debian's)")
    args = parser.parse_args()
    if args.what == "table":
        table(args.data, args.budget, args.rows, args.name, args.most_steps)
    elif args.what == "speed":
        speed()
    elif args.what == "speed-once":
        print(json.dumps(speed_once()))
    else:
        text(args.budget, args.data_dir)


if __name__ == "__main__":
    main()
