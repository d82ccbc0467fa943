"""Latent-variable models (a VAE) on dynamically binarised images, trained by the
negative ELBO.

Pixels x in {0..levels-1} become binary images b ~ Bernoulli(x / (levels - 1)): a fresh
draw for every training batch (dynamic binarisation), one seeded draw for validation and
test. Reported: test_nll, the importance-sampled -log p(b) (train.importance_samples
draws per image), and test_neg_elbo, in nats per binarised image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...data import Dataset, Split, binarise
from ...registry import Entry
from ..config import Config, ConfigError
from ..metrics import Metric
from ..state import Progress
from . import figures
from .base import Run, build_model, load_data, supplied


@dataclass
class LatentExperiment(Run):
    config: Config
    data: Dataset
    model: nn.Module  # with elbo(x, samples=) and log_prob(x, samples=)

    metric = Metric("val_neg_elbo", "-ELBO")

    def binarise(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return binarise(x, self.data.levels, generator).to(self.device)

    def draw(self, generator: torch.Generator, step: int) -> Tensor:
        rows = torch.randint(len(self.data.train), (self.config.train.batch,), generator=generator)
        return self.binarise(self.data.train.x[rows], generator)

    def loss(self, model: nn.Module, x: Tensor) -> Tensor:
        return -model.elbo(x).mean()

    def _mean(self, split: Split, seed: int, score: Any) -> float:
        """The mean of -score(rows) over a split binarised with `seed`, its posterior draws
        seeded too."""
        x = self.binarise(split.x, torch.Generator().manual_seed(seed))
        return self.mean_negative(lambda rows, _: score(rows), seed, x)

    def validate(self, model: nn.Module) -> float:
        return self._mean(self.data.val, self.config.data.seed + 1, model.elbo)

    def results(self, progress: Progress) -> dict[str, Any]:
        started = time.perf_counter()
        seed, test = self.config.data.seed + 2, self.data.test
        samples = self.config.train.importance_samples
        neg_elbo = self._mean(test, seed, lambda x: self.model.elbo(x, samples=10))
        nll = self._mean(test, seed, lambda x: self.model.log_prob(x, samples=samples))
        return {
            **self.fields(progress),
            "posterior": self.config.model.posterior,
            "flow_steps": self.config.model.steps,
            "val_neg_elbo": self.validate(self.model),
            "test_neg_elbo": neg_elbo,
            "test_nll": nll,
            "importance_samples": samples,
            "eval_seconds": round(time.perf_counter() - started, 1),
        }

    def summary(self, results: dict[str, Any]) -> str:
        line = f"{results['name']}: test NLL {results['test_nll']:.4f} nats (importance-sampled)"
        return line + f", -ELBO {results['test_neg_elbo']:.4f}" + self.steps_line(results)

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, label: int | None = None, *, guidance: float = 0.0
    ) -> Tensor:
        self.check_label(label)
        self.check_guidance(guidance)
        x = self.model.eval().sample((n,), temperature=temperature)
        return x.cpu() * (self.data.levels - 1)

    def picture(self, samples: Tensor, path: Path, caption: str = "") -> None:
        title = f"samples x ~ p(x | z), {caption}".rstrip(", ")
        figures.image_samples(samples, self.data.image_shape, self.data.levels, path, title)

    def write_plots(self, run_dir: Path) -> None:
        plots = figures.start(run_dir, self.metric)
        figures.decoder_means(self.model, self.data.image_shape, plots)


def build(config: Config, entry: Entry) -> LatentExperiment:
    data = load_data(config)
    if data.image_shape is None or data.levels is None:
        raise ConfigError(f"model: {entry.name} models binarised images; {data.name!r} is not")
    if config.data.conditional:
        raise ConfigError(f"data.conditional: {entry.name} has no conditional form")
    arguments = supplied(entry, {"features": data.features}, f"data set {data.name!r}")
    return LatentExperiment(config, data, build_model(config, entry, arguments))
