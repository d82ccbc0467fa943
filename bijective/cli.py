"""The `bijective` command (also `python -m bijective`).

    bijective train CONFIG.yaml [--set key=value ...] [--out RUN_DIR] [--data-dir DIR]
    bijective resume RUN_DIR
    bijective eval RUN_DIR
    bijective sample RUN_DIR -n N [--temperature T] [--label K] -o FILE.npy|FILE.png
    bijective demo [--out DIR]
    bijective list

A config, checkpoint or data problem prints one line `bijective: error: ...` and exits
with status 2, having written nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import train as training
from .catalogue import DATASETS, MODELS, TARGETS
from .data import MissingDependency
from .registry import Registry
from .train.checkpoint import CheckpointError
from .train.config import ConfigError, load_config, parse_config
from .train.loop import Diverged
from .transforms.roots import ConvergenceError

USER_ERRORS = (
    ConfigError,
    CheckpointError,
    MissingDependency,
    FileNotFoundError,
    FileExistsError,
    Diverged,
    ConvergenceError,  # a fixed-point inverse or an ODE solve over its budget
)

# The demo: two small experiments that run in about a minute on 2 CPU cores.
DEMO = {
    "moons-nsf": {
        "data": {"name": "moons", "noise": 0.05},
        "model": {"name": "nsf", "transforms": 5, "bins": 8, "hidden": [64, 64]},
        "train": {"steps": 1000, "batch": 512, "lr": 1e-3, "schedule": "cosine", "eval_every": 250},
    },
    "digits-maf": {
        "data": {"name": "digits", "logit": 0.05},
        "model": {"name": "maf", "transforms": 5, "hidden": [256, 256], "dropout": 0.2},
        "train": {"steps": 1000, "batch": 256, "lr": 1e-3, "schedule": "cosine", "eval_every": 100},
    },
}


def cmd_train(args: argparse.Namespace) -> None:
    overrides = list(args.set)
    if args.data_dir is not None:
        overrides.append(f"data.data_dir={args.data_dir}")
    config = load_config(args.config, overrides)
    out = Path(args.out) if args.out else Path("runs") / config.name
    training.train(config, out)
    print(f"run directory: {out} (results.json, metrics.csv, plots/)")


def cmd_resume(args: argparse.Namespace) -> None:
    training.resume(args.run_dir)


def cmd_eval(args: argparse.Namespace) -> None:
    print(json.dumps(training.evaluate(args.run_dir), indent=1))


def cmd_sample(args: argparse.Namespace) -> None:
    out = Path(args.output)
    if out.suffix not in (".npy", ".png", ".txt"):
        raise ConfigError(f"-o {out}: expected a .npy, .png or .txt (text runs) file name")
    if args.n < 1:
        raise ConfigError(f"-n {args.n}: expected a positive number of samples")
    if not 0 < args.temperature < float("inf"):
        raise ConfigError(f"--temperature {args.temperature}: expected a positive finite number")
    experiment = training.open_run(args.run_dir)
    samples = experiment.sample(args.n, args.temperature, args.label)
    experiment.save_samples(samples, out)
    print(f"{len(samples)} samples -> {out}")


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


def _list(title: str, registry: Registry) -> None:
    print(title)
    width = max(len(name) for name in registry) + 1
    for entry in registry.entries():
        options = ", ".join(entry.options) or "none"
        print(f"  {entry.name:{width}s} {entry.description}; options: {options}")


def cmd_list(_: argparse.Namespace) -> None:
    from . import transforms

    _list("architectures (model.name, with their options):", MODELS)
    print("transforms (bijective.transforms):")
    print("  " + ", ".join(n for n in transforms.__all__ if n not in ("masks", "dequantization")))
    _list("data sets (data.name, with their options):", DATASETS)
    _list("targets for variational inference (target.name, with their options):", TARGETS)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="bijective", description="Normalizing flows: train, evaluate, sample."
    )
    commands = main.add_subparsers(dest="command", required=True)
    p = commands.add_parser("train", help="train an experiment from a YAML config")
    p.add_argument("config")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. train.steps=500",
    )
    p.add_argument("--out", help="run directory (default runs/NAME)")
    p.add_argument("--data-dir", help="directory of data files (sets data.data_dir)")
    p.set_defaults(run=cmd_train)
    p = commands.add_parser("resume", help="continue an interrupted run from its last checkpoint")
    p.add_argument("run_dir")
    p.set_defaults(run=cmd_resume)
    p = commands.add_parser("eval", help="evaluate a run's best weights on validation and test")
    p.add_argument("run_dir")
    p.set_defaults(run=cmd_eval)
    p = commands.add_parser("sample", help="draw samples from a trained run")
    p.add_argument("run_dir")
    p.add_argument(
        "-n", type=int, default=64, help="number of samples (per class when conditional)"
    )
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--label", type=int, help="the class to sample, for a conditional model")
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
    except KeyboardInterrupt:
        print(
            "bijective: interrupted; `bijective resume RUN_DIR` continues from the last checkpoint",
            file=sys.stderr,
        )
        return 130
    return 0
