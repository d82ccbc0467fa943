"""Orchestration: a config made into an experiment (by the catalogue and its kind),
trained into a run directory, resumed, re-evaluated and reopened.

A run directory holds config.yaml (the full validated config), checkpoint/ (the last
state), best.safetensors (the best validated weights), metrics.csv, results.json and
plots/*.png.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..catalogue import MODELS
from .checkpoint import CheckpointError, load_checkpoint, load_weights, split_prefix
from .config import Config, ConfigError, dump_config, load_config
from .kinds import KINDS, Experiment
from .loop import fit
from .state import BEST, CHECKPOINT, CONFIG, RESULTS, Progress, load_model_weights


def build(config: Config) -> Experiment:
    """The experiment of a config: its model's catalogue entry names the kinds that train
    it, and the config's section (data or target) picks one. Loads the data (or the
    target) and builds the model, seeded by train.seed, writing nothing."""
    entry = MODELS[config.model.name]
    section = "data" if config.data is not None else "target"
    kinds = [KINDS[k] for k in entry.kinds if KINDS[k].section == section]
    if not kinds:
        fits = ", ".join(sorted({KINDS[k].section for k in entry.kinds}))
        raise ConfigError(f"model.name: {entry.name} is fitted to {fits}, not to a {section}")
    return kinds[0].build(config, entry)


def train(config: Config, run_dir: str | Path, resume: bool = False, log: Any = print) -> dict:
    """Trains the experiment into run_dir (which must hold no run unless resuming),
    evaluates the best weights on test, writes results.json and the plots; returns the
    results."""
    run_dir = Path(run_dir)
    if not resume and (run_dir / CHECKPOINT).exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; continue it with `bijective resume {run_dir}` "
            "or choose another directory (--out)"
        )
    experiment = build(config)  # every error about the config is raised before writing
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        (run_dir / CONFIG).write_text(dump_config(config))
    progress = fit(
        experiment.model,
        experiment.loss,
        experiment.draw,
        experiment.validate,
        config.train,
        run_dir,
        resume=resume,
        log=log,
        metric=experiment.metric,
    )
    results = experiment.results(progress)
    (run_dir / RESULTS).write_text(json.dumps(results, indent=1))
    experiment.write_plots(run_dir)
    log(experiment.summary(results))
    return results


def resume(run_dir: str | Path, log: Any = print) -> dict:
    """Continues an interrupted run from its last checkpoint, exactly."""
    run_dir = Path(run_dir)
    return train(load_config(run_dir / CONFIG), run_dir, resume=True, log=log)


def open_run(run_dir: str | Path) -> Experiment:
    """A trained run: its config, data, and model holding the best weights (the last
    checkpoint's when no validation has happened yet), in eval mode."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise FileNotFoundError(f"{run_dir}: not a run directory (no {CONFIG})")
    experiment = build(load_config(run_dir / CONFIG))
    if (run_dir / BEST).exists():
        weights, source = load_weights(run_dir / BEST)[0], run_dir / BEST
    else:
        tensors = load_checkpoint(run_dir / CHECKPOINT)[0]
        weights, source = split_prefix(tensors, "model"), run_dir / CHECKPOINT
    load_model_weights(experiment.model, weights, str(source))
    experiment.model.eval()
    return experiment


def evaluate(run_dir: str | Path, log: Any = print) -> dict:
    """Re-evaluates a run's best weights on validation and test; rewrites results.json."""
    run_dir = Path(run_dir)
    experiment = open_run(run_dir)
    try:
        progress = Progress(**load_checkpoint(run_dir / CHECKPOINT)[1]["progress"])
    except CheckpointError:
        progress = Progress()
    results = experiment.results(progress)
    (run_dir / RESULTS).write_text(json.dumps(results, indent=1))
    log(experiment.summary(results))
    return results
