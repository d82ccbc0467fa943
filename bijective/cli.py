"""The `bijective` command (also `python -m bijective`).

    bijective train CONFIG.yaml [--set key=value ...] [--out RUN_DIR] [--data-dir DIR] [--force]
        [--resume]
    bijective train --data FILE [--model NAME] [--set key=value ...] [--out RUN_DIR]
    bijective resume RUN_DIR
    bijective eval RUN_DIR
    bijective sample RUN_DIR|pretrained:NAME -n N [--temperature T] [--label K]
                     [--guidance W] -o FILE.npy|.png
    bijective demo [--out DIR]
    bijective list

A config, checkpoint or data problem prints one line `bijective: error: ...` and exits
with status 2, having written nothing; so do a full disk, a read-only run directory and
running out of memory, leaving the last whole checkpoint. SIGTERM or Ctrl-C during
training stops after the current step with a checkpoint and one line, exit status 143
or 130 (128 + the signal; `bijective resume RUN_DIR` continues).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import typing
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from torch import Tensor

from . import train as training
from .catalogue import DATASETS, MODELS, TARGETS
from .data import MissingDependency
from .registry import Registry
from .saving import SaveError
from .train.checkpoint import CheckpointError
from .train.config import ConfigError, parse_config
from .train.config_files import apply_overrides, read_config
from .train.faults import OutOfMemory, WriteError, writing
from .train.loop import Diverged
from .train.preemption import Stopped
from .train.run import NonFiniteResult
from .train.state import CHECKPOINT
from .transforms.roots import ConvergenceError

USER_ERRORS = (
    ConfigError,
    CheckpointError,
    MissingDependency,
    FileNotFoundError,
    FileExistsError,
    Diverged,
    ConvergenceError,  # a fixed-point inverse or an ODE solve over its budget
    NonFiniteResult,  # NaN or infinite figures (results.json says null)
    WriteError,  # a full disk, a read-only place
    SaveError,  # a saved or pretrained model that cannot be loaded
    OutOfMemory,
)

# The demo: two small experiments that run in about a minute on 2 CPU cores.
DEMO = {
    "moons-nsf": {
        "data": {"name": "moons", "noise": 0.05},
        "model": {"name": "nsf", "transforms": 5, "bins": 8, "hidden": [64, 64]},
        # lr 3e-3 after 50 warm-up steps, cosine-annealed by step 1,000: chosen on the
        # validation split (benchmarks/moons_schedule.py): every seed of 5 reaches a
        # validation NLL of 1.16 (median 800 steps); the former 600-step horizon, chosen on
        # test, missed it in 3 of 5.
        "train": {
            "steps": 1000,
            "batch": 512,
            "lr": 3e-3,
            "warmup": 50,
            "schedule": "cosine",
            "eval_every": 100,
        },
    },
    "digits-maf": {
        "data": {"name": "digits", "logit": 0.05},
        "model": {"name": "maf", "transforms": 5, "hidden": [256, 256], "dropout": 0.2},
        "train": {"steps": 1000, "batch": 256, "lr": 1e-3, "schedule": "cosine", "eval_every": 100},
    },
}


def cmd_train(args: argparse.Namespace) -> None:
    if args.config is None and args.data is None:
        raise ConfigError("train: give a CONFIG file, or your data with --data FILE")
    raw = read_config(args.config) if args.config is not None else {}
    if args.data is not None:
        path = Path(args.data).expanduser()
        raw["data"] = {"name": "file", "path": str(path)}
        raw.setdefault("name", _run_name(f"{path.stem}-{args.model or 'nsf'}"))
    if args.model is not None or "model" not in raw:
        raw["model"] = {"name": args.model or "nsf"}
    overrides = list(args.set)
    if args.data_dir is not None:
        overrides.append(f"data.data_dir={args.data_dir}")
    config = parse_config(apply_overrides(raw, overrides), args.config or "--data")
    out = Path(args.out) if args.out else Path("runs") / config.name
    if args.resume and (out / CHECKPOINT).exists():  # a requeued or restarted job
        results = training.resume(out)  # the run's recorded config, not CONFIG
    else:
        results = training.train(config, out, force=args.force)
    if results:  # {} on processes other than rank 0
        print(f"run directory: {out} (results.json, metrics.csv, plots/)")


def _run_name(text: str) -> str:
    """A safe run name from a file name: other characters become '-'."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", text).lstrip("._-")[:100] or "run"


def cmd_resume(args: argparse.Namespace) -> None:
    training.resume(args.run_dir)


def cmd_eval(args: argparse.Namespace) -> None:
    print(json.dumps(training.evaluate(args.run_dir), indent=1))


CHUNK = 65_536  # samples drawn and written at a time
MAX_PICTURE = 10_000  # samples in one .png grid


def cmd_sample(args: argparse.Namespace) -> None:
    out = Path(args.output)
    if out.suffix not in (".npy", ".png", ".txt", ".csv"):
        raise ConfigError(
            f"-o {out}: expected a .npy, .png, .txt (text runs) or .csv (tables) file name"
        )
    if args.n < 1:
        raise ConfigError(f"-n {args.n}: expected a positive number of samples")
    if out.suffix == ".png" and args.n > MAX_PICTURE:
        raise ConfigError(f"-n {args.n}: a .png shows at most {MAX_PICTURE:,}; use .npy")
    if not 0 < args.temperature < float("inf"):
        raise ConfigError(f"--temperature {args.temperature}: expected a positive finite number")
    experiment = _open(args.run_dir)
    experiment.check_label(args.label)
    experiment.check_guidance(args.guidance)
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        total = _draw_and_save(experiment, args, out)
    print(f"{total} samples -> {out}")


def _open(run: str) -> training.Experiment:
    """A run directory's experiment, or a pretrained model's (`pretrained:NAME`)."""
    if run.startswith("pretrained:"):
        from .zoo import open_pretrained

        return open_pretrained(run.removeprefix("pretrained:"))
    return training.open_run(run)


def _draw_and_save(experiment: training.Experiment, args: argparse.Namespace, out: Path) -> int:
    """`sample`'s draws written to `out` (whole, or not at all); the number written."""
    draw = partial(experiment.sample, temperature=args.temperature, guidance=args.guidance)
    if out.suffix == ".png" or args.n <= CHUNK:
        samples = draw(args.n, label=args.label)
        caption = f"T = {args.temperature:g}"
        if args.label is not None:
            caption += f", class {args.label}"
        elif experiment.conditional:
            caption += f", {args.n} per class, in class order"
        if args.guidance:
            caption += f", guidance {args.guidance:g}"
        experiment.save_samples(samples, out, caption)
        return len(samples)
    return _sample_in_chunks(experiment, draw, args.n, args.label, out)


def _sample_in_chunks(
    experiment: training.Experiment,
    draw: Callable[..., Tensor],
    n: int,
    label: int | None,
    out: Path,
) -> int:
    """n samples (per class when conditional and no label) drawn CHUNK at a time by
    `draw(size, label=k)` and
    written as they come: to an .npy through a memory map, to a .txt or .csv line by line; the
    file appears (by rename) only when complete."""
    labels = [label]
    if label is None and experiment.conditional:
        labels = list(range(experiment.classes))
    sizes = [min(CHUNK, n - start) for start in range(0, n, CHUNK)]
    tmp = out.with_name(f"{out.stem}.tmp{out.suffix}")
    part = out.with_name(f"{out.stem}.part{out.suffix}")
    array, row = None, 0
    try:
        for k in labels:
            for size in sizes:
                chunk = draw(size, label=k)
                if out.suffix in (".txt", ".csv"):
                    experiment.save_samples(chunk, part)
                    text = part.read_text(encoding="utf-8")
                    if out.suffix == ".csv" and row:  # the header row once
                        text = text.split("\n", 1)[1]
                    with open(tmp, "a", encoding="utf-8") as f:
                        f.write(text)
                else:
                    if array is None:
                        shape = (n * len(labels), *chunk.shape[1:])
                        array = np.lib.format.open_memmap(tmp, "w+", chunk.numpy().dtype, shape)
                        with open(tmp, "r+b") as f:  # the space now: a full disk is ENOSPC
                            os.posix_fallocate(f.fileno(), 0, os.path.getsize(tmp))  # not SIGBUS
                    array[row : row + len(chunk)] = chunk.numpy()
                row += len(chunk)
        if array is not None:
            array.flush()
        del array
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
    return row


def cmd_demo(args: argparse.Namespace) -> None:
    out = Path(args.out)
    for name, raw in DEMO.items():
        config = parse_config({"name": name, **raw}, f"demo {name}")
        run_dir = out / name
        if (run_dir / "checkpoint").exists():
            raise FileExistsError(f"{run_dir} already holds a run; choose another --out")
        print(f"== {name}: {config.model.name} on {config.data.name}", flush=True)
        training.train(config, run_dir)
    print(f"plots in {out}/*/plots/")


def _option(name: str, hint: object) -> str:
    """An option's name, with its allowed values when its type is a Literal."""
    values = [v for v in typing.get_args(hint) if isinstance(v, str)]
    literal = typing.get_origin(hint) is typing.Literal
    return f"{name} ({'|'.join(values)})" if literal and values else name


def _list(title: str, registry: Registry) -> None:
    print(title)
    width = max(len(name) for name in registry) + 1
    for entry in registry.entries():
        hints = entry.hints()
        options = ", ".join(_option(n, hints.get(n)) for n in entry.options) or "none"
        print(f"  {entry.name:{width}s} {entry.description}; options: {options}")


def cmd_list(_: argparse.Namespace) -> None:
    from . import transforms

    _list("architectures (model.name, with their options):", MODELS)
    print("transforms (bijective.transforms):")
    print("  " + ", ".join(n for n in transforms.__all__ if n not in ("masks", "dequantization")))
    _list("data sets (data.name, with their options):", DATASETS)
    _list("targets for variational inference (target.name, with their options):", TARGETS)
    from .zoo import NAMES, card

    print("pretrained models (bj.pretrained(NAME), bijective sample pretrained:NAME):")
    for name in NAMES:
        figures = card(name)
        bits = figures.get("test_bits_per_dim")
        score = f"{bits:.3f} bits/dim" if bits is not None else f"{figures['test_nll']:.3f} nats"
        print(f"  {name}: test {score}, {figures['steps']} steps in {figures['train_seconds']} s")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="bijective", description="Normalizing flows: train, evaluate, sample."
    )
    commands = main.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "train", help="train an experiment from a YAML config, or a model on your data file"
    )
    p.add_argument("config", nargs="?", help="CONFIG.yaml (optional with --data)")
    p.add_argument(
        "--data",
        metavar="FILE",
        help="your data: .npy, .npz, .csv (with a header), .parquet or a directory of PNGs; "
        "sets data to {name: file, path: FILE} (add data options with --set)",
    )
    p.add_argument(
        "--model", help="architecture (`bijective list`), with its defaults; default nsf"
    )
    p.add_argument(
        "--force", action="store_true", help="write into a non-empty directory that is no run"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. train.steps=500",
    )
    p.add_argument("--out", help="run directory (default runs/NAME)")
    p.add_argument("--data-dir", help="directory of data files (sets data.data_dir)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="if the run directory holds a checkpoint, continue that run instead (the one "
        "command a preempted, requeued or restarted job repeats)",
    )
    p.set_defaults(run=cmd_train)
    p = commands.add_parser("resume", help="continue an interrupted run from its last checkpoint")
    p.add_argument("run_dir")
    p.set_defaults(run=cmd_resume)
    p = commands.add_parser("eval", help="evaluate a run's best weights on validation and test")
    p.add_argument("run_dir")
    p.set_defaults(run=cmd_eval)
    p = commands.add_parser("sample", help="draw samples from a trained run")
    p.add_argument("run_dir", help="a run directory, or pretrained:NAME (bijective list)")
    p.add_argument(
        "-n", type=int, default=64, help="number of samples (per class when conditional)"
    )
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--label", type=int, help="the class to sample, for a conditional model")
    p.add_argument(
        "--guidance",
        type=float,
        default=0.0,
        help="classifier-free guidance weight w (a conditional TarFlow trained with "
        "model.guidance_dropout > 0): theta_c + w (theta_c - theta_0)",
    )
    p.add_argument(
        "-o", "--output", required=True, help="FILE.npy, FILE.png, or FILE.txt for a text model"
    )
    p.set_defaults(run=cmd_sample)
    p = commands.add_parser("demo", help="fit flows to two moons and digits (about a minute)")
    p.add_argument("--out", default="runs/demo")
    p.set_defaults(run=cmd_demo)
    p = commands.add_parser("list", help="architectures, transforms and data sets")
    p.set_defaults(run=cmd_list)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except USER_ERRORS as error:
        print(f"bijective: error: {error}", file=sys.stderr)
        return 2
    except Stopped as stopped:  # SIGTERM or Ctrl-C, after the step under way and a checkpoint
        print(f"bijective: {stopped}", file=sys.stderr)
        return stopped.exit_status
    except KeyboardInterrupt:
        print(
            "bijective: interrupted; `bijective resume RUN_DIR` continues from the last checkpoint",
            file=sys.stderr,
        )
        return 130
    return 0
