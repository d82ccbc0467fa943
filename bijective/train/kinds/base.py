"""What the loop, the orchestration and the CLI need of an experiment (the Experiment
protocol), what every kind shares (Run: the device, seeded evaluation, the results'
common fields, saving samples), and how a kind is registered (Kind)."""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from ...data import Dataset, load
from ...modes import evaluating
from ...registry import Entry
from ..config import Config, ConfigError
from ..faults import write_atomically
from ..metrics import Metric
from ..state import Progress


@runtime_checkable
class Experiment(Protocol):
    """A config made into a model and its training data (or target).

    metric: what `validate` returns (metrics.Metric: its CSV column and label; lower is
    better);
    draw(generator, step) -> a training batch; loss(model, batch) -> a scalar Tensor;
    validate(model) -> float; results(progress) -> the dict written to results.json;
    conditional: a class-conditional model, of `classes` classes (0 when not);
    check_label(label) refuses a label this run cannot sample (one line, ConfigError);
    compile_evaluation(log), or None: switches `validate` to torch.compile (train.compile);
    check_guidance(w) refuses a classifier-free guidance weight this run cannot use;
    sample(n, temperature, label, guidance=w) -> n samples in the data's units (per class
    for a conditional model when label is None; guided with weight w != 0);
    save_samples(samples, path, caption) writes them (.npy, or a picture where the data
    allow, `caption` (temperature, class) in its title); write_plots(run_dir);
    summary(results) -> the one line the CLI prints.
    """

    config: Config
    model: nn.Module
    metric: Metric
    conditional: bool
    classes: int
    compile_evaluation: Callable[[Callable[[str], None]], None] | None

    def check_label(self, label: int | None) -> None: ...

    def draw(self, generator: torch.Generator, step: int) -> Any: ...

    def loss(self, model: nn.Module, batch: Any) -> Tensor: ...

    def validate(self, model: nn.Module) -> float: ...

    def results(self, progress: Progress) -> dict[str, Any]: ...

    def sample(
        self, n: int, temperature: float = 1.0, label: int | None = None, *, guidance: float = 0.0
    ) -> Tensor: ...

    def save_samples(self, samples: Tensor, path: Path, caption: str = "") -> None: ...

    def write_plots(self, run_dir: Path) -> None: ...

    def summary(self, results: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class Kind:
    """An experiment kind: the config section it fits (`data` or `target`) and how it builds
    an Experiment from a config and the model's catalogue entry."""

    section: str
    build: Callable[[Config, Entry], Experiment]


class Run:
    """Mixed into the kinds' experiment dataclasses (they define `config` and `model`).
    A kind whose evaluation can run through torch.compile defines
    `compile_evaluation(log)` (train.compile); the others keep it eager."""

    config: Config
    model: nn.Module
    compile_evaluation: Callable[[Callable[[str], None]], None] | None = None
    conditional: bool = False  # a kind with class-conditional models overrides both
    classes: int = 0

    def check_label(self, label: int | None) -> None:
        """The one check of a class label to sample (`bijective sample --label`)."""
        if label is None:
            return
        if not self.conditional:
            raise ConfigError("--label: this run's model is not conditional")
        if not 0 <= label < self.classes:
            raise ConfigError(f"--label {label}: expected a class in 0..{self.classes - 1}")

    def check_guidance(self, guidance: float) -> None:
        """The one check of a classifier-free guidance weight w (`bijective sample
        --guidance`): w != 0 needs a conditional model trained with its context dropped
        (model.guidance_dropout > 0, so that it has learned the unconditional density)."""
        if guidance == 0:
            return
        if not math.isfinite(guidance):
            raise ConfigError(f"--guidance {guidance}: expected a finite weight")
        flow = getattr(self.model, "flow", self.model)  # a DequantizedFlow's flow
        if not self.conditional or not getattr(flow, "guidance_dropout", 0):
            raise ConfigError(
                f"--guidance {guidance}: this run's model was not trained for classifier-free "
                "guidance (a conditional tarflow or image-tarflow with model.guidance_dropout > 0)"
            )

    @property
    def device(self) -> torch.device:
        return self.config.train.torch_device()

    @contextlib.contextmanager
    def seeded(self, seed: int) -> Iterator[None]:
        """Random draws seeded by `seed` inside, the global random state untouched outside
        (so evaluating never changes what training draws next)."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def mean_negative(
        self, score: Callable[..., Tensor], seed: int, x: Tensor, context: Tensor | None = None
    ) -> float:
        """The mean of -score(rows, context rows) over the rows of x, in chunks of
        train.eval_batch, in eval mode without gradients, its random draws seeded by
        `seed` (so validation is a fixed function of the weights); the mode is restored."""
        total, size = 0.0, self.config.train.eval_batch
        with torch.no_grad(), self.seeded(seed), evaluating(self.model):
            for start in range(0, len(x), size):
                c = None if context is None else context[start : start + size]
                total -= float(score(x[start : start + size], c).double().sum())
        return total / len(x)

    def fields(self, progress: Progress) -> dict[str, Any]:
        """The results' first fields: what ran, the model's size and the training loop."""
        section = self.config.data if self.config.data is not None else self.config.target
        return {
            "name": self.config.name,
            "data" if self.config.data is not None else "target": section.name,
            "model": self.config.model.name,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "steps": progress.step,
            "best_step": progress.best_step,
            "stopped_early": progress.stopped_early,
            "skipped_steps": progress.skipped,
            "train_seconds": round(progress.seconds, 1),
        }

    def steps_line(self, results: dict[str, Any]) -> str:
        return (
            f" (best step {results['best_step']} of {results['steps']}, "
            f"{results['parameters']:,} parameters)"
        )

    def save_samples(self, samples: Tensor, path: Path, caption: str = "") -> None:
        """.npy for any samples; .png where `picture` can draw them."""
        if path.suffix == ".npy":
            write_atomically(path, lambda f: np.save(f, samples.numpy()))
        elif path.suffix == ".png":
            self.picture(samples, path, caption)
        else:
            raise ConfigError(f"-o {path}: expected a .npy or .png file name")

    def picture(self, samples: Tensor, path: Path, caption: str = "") -> None:
        raise ConfigError(f"-o {path}: this run's samples have no picture; use .npy")


def supplied(entry: Entry, available: dict[str, Any], source: str) -> dict[str, Any]:
    """The builder arguments `entry.from_data` names, from what the data or target offers
    (`available`; None where it has no such thing, e.g. no image shape)."""
    missing = [n for n in entry.from_data if available.get(n) is None]
    if missing:
        raise ConfigError(
            f"model: {entry.name} needs the {missing[0]} of image data; {source} has none"
        )
    return {name: available[name] for name in entry.from_data}


def build_model(config: Config, entry: Entry, arguments: dict[str, Any]) -> nn.Module:
    """The entry's model from the supplied arguments and the config's options, seeded by
    train.seed, on train.device; a ValueError of the builder becomes a ConfigError."""
    torch.manual_seed(config.train.seed)
    try:
        model = entry.build(**arguments, **config.model.options())
    except ValueError as error:
        raise ConfigError(f"model: {error}") from None
    return model.to(config.train.torch_device())


def load_data(config: Config, table: bool = False) -> Dataset:
    """The configured data set (with `table`, a file read as a table of mixed columns and
    nothing standardised); ConfigError for NaN in the data, a malformed file (a bad
    header, the wrong shape, ...), and FileNotFoundError for a missing one."""
    standardise = config.data.standardise and not table
    try:
        return load(config.data.name, standardise, table, **config.data.loader_options())
    except ValueError as error:
        raise ConfigError(f"data: {error}") from None
    except (IndexError, KeyError, EOFError, struct.error, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ConfigError(
            f"data: data set {config.data.name!r}: its files are not as expected "
            f"({type(error).__name__}: {error})"
        ) from None
