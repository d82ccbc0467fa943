"""A latent-variable experiment: a VAE on dynamically binarised images, trained by the
negative ELBO with the same loop, checkpoints, metrics and plots as the flows.

Pixels x in {0..levels-1} become binary images b ~ Bernoulli(x / (levels - 1)): a fresh
draw for every training batch (dynamic binarisation), one seeded draw for validation and
test. Reported: the test -ELBO and the importance-sampled -log p(x) (train.importance_
samples draws per image), in nats per image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..data import Dataset, Split
from ..models import VAE
from .common import Run
from .config import Config, ConfigError
from .loop import Progress


@dataclass
class LatentExperiment(Run):
    config: Config
    data: Dataset
    model: VAE

    metric = "val_neg_elbo"

    def binarise(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return torch.bernoulli(x / (self.data.levels - 1), generator=generator).to(self.device)

    def draw(self, generator: torch.Generator, step: int) -> Tensor:
        rows = torch.randint(len(self.data.train), (self.config.train.batch,), generator=generator)
        return self.binarise(self.data.train.x[rows], generator)

    def loss(self, model: VAE, x: Tensor) -> Tensor:
        return -model.elbo(x).mean()

    def fixed(self, split: Split, seed: int) -> Tensor:
        return self.binarise(split.x, torch.Generator().manual_seed(seed))

    def _mean(self, split: Split, seed: int, score: Any) -> float:
        """The mean of -score(rows) over a split binarised with `seed`, its posterior draws
        seeded too."""
        return self.mean_negative(self.fixed(split, seed), score, seed)

    def validate(self, model: VAE) -> float:
        return self._mean(self.data.val, self.config.data.seed + 1, model.elbo)

    def results(self, progress: Progress) -> dict[str, Any]:
        started = time.perf_counter()
        seed, test = self.config.data.seed + 2, self.data.test
        samples = self.config.train.importance_samples
        neg_elbo = self._mean(test, seed, lambda x: self.model.elbo(x, samples=10))
        nll = self._mean(test, seed, lambda x: self.model.log_prob(x, samples=samples))
        return {
            "name": self.config.name,
            "data": self.data.name,
            "model": "vae",
            "posterior": self.config.model.posterior,
            "flow_steps": self.config.model.steps,
            **self.summary(progress),
            "val_neg_elbo": self.validate(self.model),
            "test_neg_elbo": neg_elbo,
            "test_nll": nll,
            "importance_samples": samples,
            "eval_seconds": round(time.perf_counter() - started, 1),
        }

    def to_data_space(self, y: Tensor) -> Tensor:
        return y.detach().cpu() * (self.data.levels - 1)

    def write_plots(self, run_dir: Path) -> None:
        from .. import viz

        plots = run_dir / "plots"
        plots.mkdir(exist_ok=True)
        viz.training_curves(run_dir / "metrics.csv", plots / "curves.png")
        means = self.model.sample((64,), mean=True).cpu()
        viz.image_grid(means.view(-1, *self.data.image_shape), plots / "samples.png", rows=8)


def build(config: Config, data: Dataset) -> LatentExperiment:
    if data.image_shape is None or data.levels is None:
        raise ConfigError(f"model: a VAE models binarised images; data set {data.name!r} is not")
    if config.data.conditional:
        raise ConfigError("data.conditional: the VAE has no conditional form")
    torch.manual_seed(config.train.seed)
    options = config.model.model_dump(exclude={"name"})
    try:
        model = VAE(data.features, **options)
    except ValueError as error:
        raise ConfigError(f"model: {error}") from None
    return LatentExperiment(config, data, model.to(config.train.device))
