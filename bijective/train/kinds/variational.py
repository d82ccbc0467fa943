"""Variational inference: a flow q fitted to an unnormalized target p~ by reverse KL.

Validation and test report the exact KL(q || p) = E_q[log q - log p~] + log Z (the target
knows log Z) from a fixed-seed batch of samples, with its Monte Carlo standard error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ... import objectives
from ...registry import Entry
from ...targets import Target, get
from ..config import Config, ConfigError
from ..metrics import Metric
from ..state import Progress
from . import figures
from .base import Run, build_model, supplied


@dataclass
class VariationalExperiment(Run):
    config: Config
    target: Target
    model: nn.Module  # a flow with sample_and_log_prob

    metric = Metric("val_kl", "KL(q || p)")

    def beta(self, step: int) -> float:
        """The target's inverse temperature at `step`: 0.01 -> 1 linearly over `anneal`."""
        anneal = self.config.target.anneal
        return 1.0 if step >= anneal else 0.01 + 0.99 * step / anneal

    def draw(self, generator: torch.Generator, step: int) -> Tensor:
        """A step's "batch" is its beta (a 0-d tensor, so a compiled loss does not
        recompile for each value): the samples are drawn by the flow itself."""
        return torch.tensor(self.beta(step))

    def loss(self, model: nn.Module, beta: Tensor) -> Tensor:
        kl = objectives.reverse_kl(model, self.target, self.config.train.batch, beta=beta)
        return kl + objectives.penalty(model)

    def kl(self, n: int, seed: int) -> tuple[float, float]:
        """(KL(q || p), its standard error) from n samples drawn with `seed`, leaving the
        global random state as it was (training stays reproducible)."""
        with self.seeded(seed):
            return objectives.kl_divergence(
                self.model, self.target, n, batch=self.config.train.eval_batch
            )

    def validate(self, model: nn.Module) -> float:
        return self.kl(self.config.target.val_samples, self.config.train.seed + 1)[0]

    def results(self, progress: Progress) -> dict[str, Any]:
        started = time.perf_counter()
        kl, stderr = self.kl(self.config.target.test_samples, self.config.train.seed + 2)
        log_z = self.target.log_normalizer
        return {
            **self.fields(progress),
            "kl": kl,
            "kl_stderr": stderr,
            "log_normalizer": log_z,
            "elbo": log_z - kl,  # E_q[log p~ - log q]
            "test_samples": self.config.target.test_samples,
            "eval_seconds": round(time.perf_counter() - started, 1),
        }

    def summary(self, results: dict[str, Any]) -> str:
        kl = f"KL(q || p) {results['kl']:.4f} +- {results['kl_stderr']:.4f} nats"
        return f"{results['name']}: {kl}" + self.steps_line(results)

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, label: int | None = None, *, guidance: float = 0.0
    ) -> Tensor:
        self.check_label(label)
        self.check_guidance(guidance)
        return self.model.eval().sample((n,), temperature=temperature).cpu()

    def picture(self, samples: Tensor, path: Path, caption: str = "") -> None:
        if self.target.features != 2:
            raise ConfigError(f"-o {path}: PNG needs a 2-D target; use .npy")
        figures.target_samples(self.target, samples, path, caption)

    def write_plots(self, run_dir: Path) -> None:
        plots = figures.start(run_dir, self.metric)
        if self.target.features == 2:
            figures.target_2d(self.model, self.target, self.device, plots)


def build(config: Config, entry: Entry) -> VariationalExperiment:
    """The target and the configured flow on its dimension (seeded by train.seed)."""
    target = get(config.target.name, **config.target.options())
    available = {"features": target.features, "context": 0}
    model = build_model(config, entry, supplied(entry, available, f"target {config.target.name!r}"))
    return VariationalExperiment(config, target, model)
