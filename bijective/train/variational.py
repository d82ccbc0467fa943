"""A variational-inference experiment: a flow q fitted to an unnormalized target p~ by
reverse KL, with the same loop, checkpoints, metrics and plots as density estimation.

Validation and test report the exact KL(q || p) = E_q[log q - log p~] + log Z (the target
knows log Z) from a fixed-seed batch of samples, with its Monte Carlo standard error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import objectives
from ..flows import Flow
from ..targets import Target, get
from .common import Run
from .config import ARCHITECTURES, Config, ConfigError
from .loop import Progress


@dataclass
class VariationalExperiment(Run):
    config: Config
    target: Target
    model: Flow

    metric = "val_kl"

    def beta(self, step: int) -> float:
        """The target's inverse temperature at `step`: 0.01 -> 1 linearly over `anneal`."""
        anneal = self.config.target.anneal
        return 1.0 if step >= anneal else 0.01 + 0.99 * step / anneal

    def draw(self, generator: torch.Generator, step: int) -> float:
        """A step's "batch" is its beta: the samples are drawn by the flow itself."""
        return self.beta(step)

    def loss(self, model: Flow, beta: float) -> Tensor:
        return objectives.reverse_kl(model, self.target, self.config.train.batch, beta=beta)

    def kl(self, n: int, seed: int) -> tuple[float, float]:
        """(KL(q || p), its standard error) from n samples drawn with `seed`, leaving the
        global random state as it was (training stays reproducible)."""
        with self.seeded(seed):
            return objectives.kl_divergence(
                self.model, self.target, n, batch=self.config.train.eval_batch
            )

    def validate(self, model: Flow) -> float:
        return self.kl(self.config.target.val_samples, self.config.train.seed + 1)[0]

    def results(self, progress: Progress) -> dict[str, Any]:
        started = time.perf_counter()
        kl, stderr = self.kl(self.config.target.test_samples, self.config.train.seed + 2)
        log_z = self.target.log_normalizer
        return {
            "name": self.config.name,
            "target": self.config.target.name,
            "model": self.config.model.name,
            **self.summary(progress),
            "kl": kl,
            "kl_stderr": stderr,
            "log_normalizer": log_z,
            "elbo": log_z - kl,  # E_q[log p~ - log q]
            "test_samples": self.config.target.test_samples,
            "eval_seconds": round(time.perf_counter() - started, 1),
        }

    def to_data_space(self, y: Tensor) -> Tensor:
        return y.detach().cpu()

    def write_plots(self, run_dir: Path) -> None:
        from .. import viz

        plots = run_dir / "plots"
        plots.mkdir(exist_ok=True)
        viz.training_curves(run_dir / "metrics.csv", plots / "curves.png")
        if self.target.features == 2:
            viz.target_fit(self.model, self.target, plots / "density.png")


def build(config: Config) -> VariationalExperiment:
    """The target and the configured flow on its dimension (seeded by train.seed)."""
    if config.model.name not in ARCHITECTURES:
        raise ConfigError(f"model.name: a target is fitted by a flow, not {config.model.name!r}")
    target = get(config.target.name, **config.target.options())
    torch.manual_seed(config.train.seed)
    options = config.model.model_dump(exclude={"name"})
    try:
        model = ARCHITECTURES[config.model.name](target.features, 0, **options)
    except ValueError as error:
        raise ConfigError(f"model: {error}") from None
    return VariationalExperiment(config, target, model.to(config.train.device))
