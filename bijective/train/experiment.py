"""An experiment: a config made into data and a model, trained into a run directory,
then evaluated, sampled and plotted from it. A config with a `target` instead of `data`
is a variational-inference experiment (train/variational.py), run by the same functions.

A run directory holds config.yaml (the full validated config), checkpoint/ (the last
state), best.safetensors (the best validated weights), metrics.csv, results.json and
plots/*.png. Discrete data are dequantized with fresh noise for every training batch and
with one fixed draw for validation and test; reported figures: the NLL in nats of the
model's input, for standardised data also in the data's original units, and for discrete
data bits/dim of the integer data.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import objectives
from ..data import Dataset, Split, dequantize, load
from ..flows import Flow
from ..transforms import ActNorm, Compose, Logit
from .checkpoint import CheckpointError, load_checkpoint, load_weights, split_prefix
from .common import Run
from .config import (
    ARCHITECTURES,
    IMAGE_ARCHITECTURES,
    Config,
    ConfigError,
    dump_config,
    load_config,
)
from .images import ImageExperiment
from .images import build as build_images
from .latent import LatentExperiment
from .latent import build as build_latent
from .loop import BEST, CHECKPOINT, Progress, fit, load_model_weights
from .variational import VariationalExperiment
from .variational import build as build_variational

CONFIG, RESULTS = "config.yaml", "results.json"


@dataclass
class Experiment(Run):
    config: Config
    data: Dataset
    model: Flow

    metric = "val_nll"

    @property
    def conditional(self) -> bool:
        return self.config.data.conditional

    def context(self, labels: Tensor | None) -> Tensor | None:
        """One-hot labels: the context of a class-conditional model."""
        if not self.conditional or labels is None:
            return None
        eye = torch.eye(self.data.classes, device=self.device)
        return eye[labels.to(self.device)]

    def model_input(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """What the model sees: x, dequantized to [0, 1) for discrete data."""
        if self.data.levels is not None:
            x = dequantize(x, self.data.levels, generator)
        return x.to(self.device)

    def draw(self, generator: torch.Generator, step: int) -> tuple[Tensor, Tensor | None]:
        """A training minibatch, rows drawn with replacement."""
        rows = torch.randint(len(self.data.train), (self.config.train.batch,), generator=generator)
        labels = None if self.data.train.labels is None else self.data.train.labels[rows]
        return self.model_input(self.data.train.x[rows], generator), self.context(labels)

    def fixed_input(self, split: Split, seed: int) -> tuple[Tensor, Tensor | None]:
        """A split as the model sees it, dequantized with one seeded draw."""
        generator = torch.Generator().manual_seed(seed)
        return self.model_input(split.x, generator), self.context(split.labels)

    def mean_nll(self, split: Split, seed: int) -> float:
        x, context = self.fixed_input(split, seed)
        return objectives.mean_nll(self.model, x, context, self.config.train.eval_batch)

    def loss(self, model: Flow, batch: tuple[Tensor, Tensor | None]) -> Tensor:
        return objectives.nll(model, *batch)

    def validate(self, model: Flow) -> float:
        return self.mean_nll(self.data.val, self.config.data.seed + 1)

    def results(self, progress: Progress) -> dict:
        return _results(self, progress)

    def write_plots(self, run_dir: Path) -> None:
        _write_plots(self, run_dir)

    def to_data_space(self, y: Tensor) -> Tensor:
        """Model samples back to the data's units: pixel values for discrete data, the
        original units for standardised data."""
        y = y.detach().cpu()
        if self.data.levels is not None:
            return (y * self.data.levels).floor().clamp(0, self.data.levels - 1)
        if self.data.scale is not None:
            return y * self.data.scale + self.data.shift
        return y


AnyExperiment = Experiment | VariationalExperiment | LatentExperiment | ImageExperiment


def build_model(config: Config, data: Dataset) -> Flow:
    """The configured architecture on the data's features (and its classes as context when
    conditional); for discrete data with `logit` set, logit(a + (1 - 2a) y) and an ActNorm
    come first, inside the flow, so their log-dets count in every likelihood."""
    if config.data.conditional and data.classes == 0:
        raise ConfigError(f"data.conditional: data set {data.name!r} has no labels to condition on")
    options = config.model.model_dump(exclude={"name"})
    context = data.classes if config.data.conditional else 0
    try:
        flow = ARCHITECTURES[config.model.name](data.features, context, **options)
    except ValueError as error:
        raise ConfigError(f"model: {error}") from None
    if data.levels is not None and config.data.logit is not None:
        prefix = [Logit(data.features, alpha=config.data.logit), ActNorm(data.features)]
        flow = Flow(Compose(*prefix, flow.transform), flow.base)
    return flow


def build(config: Config) -> AnyExperiment:
    """Loads the data (or the target) and builds the model (seeded by train.seed),
    writing nothing."""
    if config.target is not None:
        return build_variational(config)
    data_config = config.data
    try:
        data = load(data_config.name, data_config.standardise, **data_config.loader_options())
    except ValueError as error:  # a missing data_dir, a corrupt file, NaN in the data
        raise ConfigError(f"data: {error}") from None
    if config.model.name == "vae":
        return build_latent(config, data)
    if config.model.name in IMAGE_ARCHITECTURES:
        return build_images(config, data)
    if config.data.dequantization != "uniform" or config.data.n_bits is not None:
        raise ConfigError(
            "data.dequantization, data.n_bits: for the image flows (glow, image-realnvp) only"
        )
    torch.manual_seed(config.train.seed)
    model = build_model(config, data).to(config.train.device)
    return Experiment(config, data, model)


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
    return results


def resume(run_dir: str | Path, log: Any = print) -> dict:
    """Continues an interrupted run from its last checkpoint, exactly."""
    run_dir = Path(run_dir)
    return train(load_config(run_dir / CONFIG), run_dir, resume=True, log=log)


def open_run(run_dir: str | Path) -> AnyExperiment:
    """A trained run: its config, data, and model holding the best weights (the last
    checkpoint's when no validation has happened yet)."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise FileNotFoundError(f"{run_dir}: not a run directory (no {CONFIG})")
    experiment = build(load_config(run_dir / CONFIG))
    if (run_dir / BEST).exists():
        weights, source = load_weights(run_dir / BEST)[0], run_dir / BEST
    else:
        weights, source = (
            split_prefix(load_checkpoint(run_dir / CHECKPOINT)[0], "model"),
            run_dir / CHECKPOINT,
        )
    load_model_weights(experiment.model, weights, str(source))
    experiment.model.eval()
    return experiment


def evaluate(run_dir: str | Path) -> dict:
    """Re-evaluates a run's best weights on validation and test; rewrites results.json."""
    run_dir = Path(run_dir)
    experiment = open_run(run_dir)
    try:
        state = load_checkpoint(run_dir / CHECKPOINT)[1]
        progress = Progress(**state["progress"])
    except CheckpointError:
        progress = Progress()
    results = experiment.results(progress)
    (run_dir / RESULTS).write_text(json.dumps(results, indent=1))
    return results


def _results(experiment: Experiment, progress: Progress) -> dict:
    data, seed = experiment.data, experiment.config.data.seed
    started = time.perf_counter()
    val, test = experiment.mean_nll(data.val, seed + 1), experiment.mean_nll(data.test, seed + 2)
    results: dict[str, Any] = {
        "name": experiment.config.name,
        "data": data.name,
        "model": experiment.config.model.name,
        **experiment.summary(progress),
        "val_nll": val,
        "test_nll": test,
    }
    if data.scale is not None:
        results["test_nll_original_units"] = test + data.standardisation_log_det
    if data.levels is not None:
        results["val_bits_per_dim"] = data.bits_per_dim(val)
        results["test_bits_per_dim"] = data.bits_per_dim(test)
    results["eval_seconds"] = round(time.perf_counter() - started, 1)
    return results


@torch.no_grad()
def sample(
    experiment: AnyExperiment,
    n: int,
    temperature: float = 1.0,
    label: int | None = None,
) -> Tensor:
    """n samples in the data's units; for a conditional model, of class `label` (n per
    class when label is None)."""
    model = experiment.model.eval()
    if not experiment.conditional:
        return experiment.to_data_space(model.sample((n,), temperature=temperature))
    labels = torch.arange(experiment.data.classes) if label is None else torch.tensor([label])
    labels = labels.repeat_interleave(n)
    x = model.sample((), context=experiment.context(labels), temperature=temperature)
    return experiment.to_data_space(x)


def _write_plots(experiment: Experiment, run_dir: Path) -> None:
    from .. import viz

    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    viz.training_curves(run_dir / "metrics.csv", plots / "curves.png")
    data = experiment.data
    # Samples come in the data's units: compare them with the test data in those units.
    test = experiment.to_data_space(data.test.x)
    if data.features == 2 and not experiment.conditional:
        viz.density_2d(experiment.model, data.test.x, plots / "density.png")  # model's space
        viz.samples_2d(sample(experiment, len(data.test)), test, plots / "samples.png")
    elif data.features == 2:
        per_class = sample(experiment, 500).view(data.classes, 500, 2)
        viz.conditional_samples_2d(per_class, test, data.test.labels, plots / "samples.png")
    elif data.image_shape is not None:
        n = 10 if experiment.conditional else 64
        images = sample(experiment, n) / (data.levels - 1)
        viz.image_grid(
            images.view(-1, *data.image_shape),
            plots / "samples.png",
            rows=10 if experiment.conditional else 8,
        )
        real = data.test.x[:64] / (data.levels - 1)
        viz.image_grid(real.view(-1, *data.image_shape), plots / "data.png", rows=8)
