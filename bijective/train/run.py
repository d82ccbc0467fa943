"""Orchestration: a config made into an experiment (by the catalogue and its kind),
trained into a run directory, resumed, re-evaluated and reopened.

A run directory holds config.yaml (the full validated config), checkpoint/ (the last
state), best.safetensors (the best validated weights), metrics.csv, results.json and
plots/*.png.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..catalogue import MODELS
from ..data.fingerprint import fingerprint
from ..data.in_memory import write_arrays
from .checkpoint import CheckpointError, load_checkpoint, load_weights, split_prefix
from .config import Config, ConfigError, DataConfig, parse_config
from .config_files import dump_config, load_config
from .distributed import SINGLE, join, launched, leave
from .faults import check_writable, out_of_memory, write_atomically, writing
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


DATA_FILE = "data.npz"  # in-memory data given to `train`, kept with the run


def train(
    config: Config | dict[str, Any],
    run_dir: str | Path | None = None,
    resume: bool = False,
    log: Any = print,
    data: Any = None,
    force: bool = False,
) -> dict:
    """Trains the experiment into run_dir, evaluates the best weights on test, writes
    results.json and the plots; returns the results.

    run_dir (default runs/NAME, as on the command line) must hold no run unless resuming,
    and must be empty or absent unless it is a run directory (`force` allows a non-empty
    one). `data`: in-memory data (an array or tensor, a pair (x, labels), a bijective
    Dataset, a torch Dataset) to fit instead of config's data set; they are saved as
    run_dir/data.npz so that eval, sample and resume work on the run, and `config` (a
    Config or a mapping) needs no data section, or one with the options of data set
    `file` only (split fractions, label, standardise, ...).
    A data file's absolute path and SHA-256 are recorded in the run's config.yaml.

    Launched by torchrun (several processes), the run is data-parallel
    (bijective.train.distributed): every process calls this, rank 0 alone writes and
    returns the results, the others return {}."""
    if isinstance(config, dict) and data is None:
        config = parse_config(config)
    if data is not None and launched():
        raise ConfigError(
            "train(data=...) under torchrun: save the data to a file and use "
            "data: {name: file, path: ...}, which every process reads"
        )
    group = join(config.train) if isinstance(config, Config) else SINGLE
    if not group.writer:
        log = _quiet
    if run_dir is None:
        name = config.name if isinstance(config, Config) else config.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError("name: missing; a run needs a name (or give run_dir)")
        run_dir = Path("runs") / name
    run_dir = Path(run_dir)
    if not resume:
        check_run_dir(run_dir, force)
    if group.writer:
        check_writable(run_dir)  # a read-only or forbidden place: one line before any work
    group.barrier()  # every process has checked before rank 0 writes
    created = not run_dir.exists()
    try:
        if data is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            config = _with_data(config, data, run_dir / DATA_FILE)
        config = _recorded(config) if not resume else config
        experiment = build(config)  # every error about the config is raised before writing
        config.train.low_precision()  # a GPU without bfloat16, too
    except BaseException:
        if data is not None:
            (run_dir / DATA_FILE).unlink(missing_ok=True)
            if created:
                run_dir.rmdir()
        raise
    if group.writer:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            write_atomically(run_dir / CONFIG, dump_config(config))
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
        group=group,
        compile_evaluation=experiment.compile_evaluation,
    )
    leave(group)
    if not group.writer:
        return {}
    weights = run_dir / BEST
    with out_of_memory(
        f"evaluating (the trained weights are kept in {weights}); lower train.eval_batch, "
        f"then `bijective eval {run_dir}`"
    ):
        results = experiment.results(progress)
    write_results(run_dir, results)
    with writing(run_dir / "plots"):
        experiment.write_plots(run_dir)
    log(experiment.summary(results))
    return results


def _quiet(*_: Any) -> None:
    """The log of a process that does not report (rank > 0)."""


class NonFiniteResult(ValueError):
    """An evaluation gave NaN or an infinity: results.json says null, the run says why."""


def write_results(run_dir: Path, results: dict[str, Any]) -> None:
    """results.json as strict JSON: a NaN or infinite figure is written as null, and then
    NonFiniteResult names it (the weights and checkpoint stay as they are)."""
    bad = [k for k, v in results.items() if isinstance(v, float) and not math.isfinite(v)]
    clean = {k: None if k in bad else v for k, v in results.items()}
    write_atomically(run_dir / RESULTS, json.dumps(clean, indent=1, allow_nan=False))
    if bad:
        raise NonFiniteResult(
            f"{run_dir}: {', '.join(f'{k} = {results[k]}' for k in bad)} (null in {RESULTS}); "
            "the model gives non-finite log-likelihoods on these data"
        )


def check_run_dir(run_dir: Path, force: bool = False) -> None:
    """A new run may go into an absent or empty directory, or a run directory that holds
    no checkpoint yet; anything else (another run, someone's files) is refused unless
    `force` (which still never overwrites a run's checkpoint)."""
    if (run_dir / CHECKPOINT).exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; continue it with `bijective resume {run_dir}` "
            "or choose another directory (--out)"
        )
    if run_dir.exists() and not run_dir.is_dir():
        raise FileExistsError(f"{run_dir}: a file, not a directory; choose another --out")
    if run_dir.exists() and any(run_dir.iterdir()) and not (run_dir / CONFIG).exists():
        if not force:
            raise FileExistsError(
                f"{run_dir}: not empty and not a run directory; choose another --out, or "
                "write into it anyway with --force (force=True)"
            )


def _with_data(config: Config | dict[str, Any], data: Any, path: Path) -> Config:
    """The config fitted to in-memory `data`, written to `path` (data set `file`)."""
    if isinstance(config, Config):
        raw = config.model_dump(mode="json", exclude_none=True)
        common = DataConfig.model_fields
        raw["data"] = {k: v for k, v in raw.get("data", {}).items() if k in common}
    else:
        raw = {k: v for k, v in config.items() if k != "target"}
    raw["data"] = {**(raw.get("data") or {}), "name": "file", "path": str(path.resolve())}
    with writing(path):
        write_arrays(data, path)
    return parse_config(raw, "train(data=...)")


def _recorded(config: Config) -> Config:
    """A config whose data file is named by absolute path, with its SHA-256 recorded."""
    if config.data is None or config.data.name != "file":
        return config
    raw = config.model_dump(mode="json")
    path = Path(raw["data"]["path"]).expanduser()
    if not path.exists():
        raise ConfigError(f"data.path: {path}: no such file or directory")
    raw["data"] |= {
        "path": str(path.resolve()),
        "sha256": raw["data"]["sha256"] or fingerprint(path),
    }
    return parse_config(raw)


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
    write_results(run_dir, results)
    log(experiment.summary(results))
    return results
