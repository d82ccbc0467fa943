"""Density estimation: a model fitted to data by maximum likelihood (forward KL).

Continuous data (standardised on train unless `data.standardise` is false) go to the model
as they are. Discrete data (pixels in {0..L-1}) reach a continuous flow only through
bijective.flows.dequantized: uniform or variational dequantization, the logit prefix,
and with `data.n_bits` n the top n bits of 256-level pixels. The model sees rows shaped
as its events (vectors, or images (C, H, W) for the image flows).

Reported (results.json): val_nll and test_nll, the mean -log p(x) per example in nats:
for continuous data the density of the data as the model sees them (standardised;
test_nll_original_units adds the standardisation's log-det), for discrete data the
negative dequantization bound on -log P(x) of the integer data (one seeded draw per
example); for discrete data also val/test_bits_per_dim = nll / (D ln 2) and
test_bits_per_dim_iw, the importance-weighted bound with train.importance_samples draws.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ... import objectives
from ...data import Dataset, Split
from ...flows import DequantizedFlow, Flow, dequantized
from ...registry import Entry
from ..config import Config, ConfigError
from ..state import Progress
from .base import Run, build_model, load_data, supplied


@dataclass
class DensityExperiment(Run):
    config: Config
    data: Dataset
    model: nn.Module  # a bijective.Density
    levels: int | None  # the levels the model sees, for discrete data
    shift: int  # discrete pixels are x >> shift

    metric = "val_nll"

    @property
    def conditional(self) -> bool:
        return self.config.data.conditional

    def context(self, labels: Tensor | None) -> Tensor | None:
        """One-hot labels: the context of a class-conditional model."""
        if not self.conditional or labels is None:
            return None
        return torch.eye(self.data.classes, device=self.device)[labels.to(self.device)]

    def inputs(self, x: Tensor) -> Tensor:
        """Rows of the data as the model takes them: shaped as its events, discrete
        values at the configured bits."""
        if self.levels is not None:
            x = torch.div(x, 2**self.shift, rounding_mode="floor")
        return x.view(len(x), *self.model.event_shape).to(self.device)

    def draw(self, generator: torch.Generator, step: int) -> tuple[Tensor, Tensor | None]:
        """A training minibatch, rows drawn with replacement."""
        train = self.data.train
        rows = torch.randint(len(train), (self.config.train.batch,), generator=generator)
        labels = None if train.labels is None else train.labels[rows]
        return self.inputs(train.x[rows]), self.context(labels)

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor | None]) -> Tensor:
        return objectives.nll(model, *batch)

    def nll(self, split: Split, seed: int, **extra: Any) -> float:
        """The mean -log p(x) of a split in nats, its random draws seeded."""
        score = lambda x, c: self.model.log_prob(x, c, **extra)  # noqa: E731
        return self.mean_negative(score, seed, self.inputs(split.x), self.context(split.labels))

    def validate(self, model: nn.Module) -> float:
        return self.nll(self.data.val, self.config.data.seed + 1)

    def results(self, progress: Progress) -> dict[str, Any]:
        started, seed = time.perf_counter(), self.config.data.seed
        val, test = self.nll(self.data.val, seed + 1), self.nll(self.data.test, seed + 2)
        results = {**self.fields(progress), "val_nll": val, "test_nll": test}
        if self.data.scale is not None:
            results["test_nll_original_units"] = test + self.data.standardisation_log_det
        if self.levels is not None:
            dims, samples = self.data.features, self.config.train.importance_samples
            iw = self.nll(self.data.test, seed + 2, samples=samples)
            results |= {
                "dequantization": self.config.data.dequantization,
                "levels": self.levels,
                "val_bits_per_dim": objectives.bits_per_dim(val, dims),
                "test_bits_per_dim": objectives.bits_per_dim(test, dims),
                "test_bits_per_dim_iw": objectives.bits_per_dim(iw, dims),
                "importance_samples": samples,
            }
        results["eval_seconds"] = round(time.perf_counter() - started, 1)
        return results

    def summary(self, results: dict[str, Any]) -> str:
        line = f"{results['name']}: test NLL {results['test_nll']:.4f} nats"
        if "test_bits_per_dim" in results:
            line += f", {results['test_bits_per_dim']:.4f} bits/dim"
        return line + self.steps_line(results)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, label: int | None = None) -> Tensor:
        """n samples in the data's units (pixel values, or the original units of
        standardised data); for a conditional model, of class `label` (n per class when
        label is None), rows ordered by class."""
        model = self.model.eval()
        if label is not None and not self.conditional:
            raise ConfigError("--label: this run's model is not conditional")
        if not self.conditional:
            return self.to_data_space(model.sample((n,), temperature=temperature))
        classes = self.data.classes
        if label is not None and not 0 <= label < classes:
            raise ConfigError(f"--label {label}: expected a class in 0..{classes - 1}")
        labels = torch.arange(classes) if label is None else torch.tensor([label])
        context = self.context(labels.repeat_interleave(n))
        return self.to_data_space(model.sample((), context, temperature))

    def to_data_space(self, y: Tensor) -> Tensor:
        """Rows the model sees or samples (standardised values; discrete values at the
        configured bits) in the data's units, flattened."""
        y = y.detach().cpu().reshape(len(y), -1)
        if self.levels is not None:
            return y * 2**self.shift
        if self.data.scale is not None:
            return y * self.data.scale + self.data.shift
        return y

    def picture(self, samples: Tensor, path: Path) -> None:
        from ... import viz

        data = self.data
        if data.image_shape is not None:
            viz.image_grid(samples.view(-1, *data.image_shape) / (data.levels - 1), path)
        elif data.features == 2:
            viz.samples_2d(samples, self.to_data_space(self.inputs(data.test.x)), path)
        else:
            super().picture(samples, path)

    def write_plots(self, run_dir: Path) -> None:
        from ... import viz

        plots = run_dir / "plots"
        plots.mkdir(exist_ok=True)
        viz.training_curves(run_dir / "metrics.csv", plots / "curves.png")
        data = self.data
        # Samples come in the data's units: the test rows as the model sees them, in those units.
        test = self.to_data_space(self.inputs(data.test.x))
        if data.features == 2 and not self.conditional:
            viz.density_2d(self.model, data.test.x, plots / "density.png")  # model's space
            viz.samples_2d(self.sample(len(data.test)), test, plots / "samples.png")
        elif data.features == 2:
            per_class = self.sample(500).view(data.classes, 500, 2)
            viz.conditional_samples_2d(per_class, test, data.test.labels, plots / "samples.png")
        elif data.image_shape is not None:
            n, rows = (10, 10) if self.conditional else (64, 8)
            for t in (1.0, 0.7):
                with self.seeded(0):
                    grid = self.sample(n, t) / (data.levels - 1)
                viz.image_grid(grid.view(-1, *data.image_shape), plots / f"samples_T{t}.png", rows)
            real = test[:64] / (data.levels - 1)
            viz.image_grid(real.view(-1, *data.image_shape), plots / "data.png", rows=8)
            if isinstance(self.model, DequantizedFlow) and not self.conditional:
                lines = interpolate(self.model, self.inputs(data.test.x[:8]))
                viz.image_grid(lines.view(-1, *data.image_shape), plots / "interpolation.png", 4)


@torch.no_grad()
def interpolate(model: DequantizedFlow, x: Tensor, points: int = 8) -> Tensor:
    """Rows of `points` examples from x[2i] to x[2i+1] (Glow, Figure 5): encode the pixel
    centres (x + 1/2) / L, walk the latent line, decode and quantize; values in [0, 1]."""
    levels, flow = model.levels, model.flow
    z = flow.encode((x + 0.5) / levels)
    w = torch.linspace(0, 1, points, device=x.device).view(-1, *[1] * (z.dim() - 1))
    lines = [(1 - w) * z[a] + w * z[a + 1] for a in range(0, len(x) - 1, 2)]
    y = flow.decode(torch.cat(lines))
    return ((y * levels).floor().clamp(0, levels - 1) / (levels - 1)).cpu()


def _levels(config: Config, data: Dataset) -> tuple[int | None, int]:
    """The levels the model sees and the right shift that gets them (data.n_bits)."""
    n_bits = config.data.n_bits
    if data.levels is None:
        if n_bits is not None or config.data.dequantization != "uniform":
            raise ConfigError(
                f"data.dequantization, data.n_bits: for discrete data; {data.name!r} is continuous"
            )
        return None, 0
    if n_bits is None:
        return data.levels, 0
    if data.levels != 256 or not 1 <= n_bits <= 8:
        raise ConfigError(
            f"data.n_bits: reduces 256-level pixels to 1..8 bits; {data.name!r} has "
            f"{data.levels} levels, n_bits={n_bits}"
        )
    return 2**n_bits, 8 - n_bits


def build(config: Config, entry: Entry) -> DensityExperiment:
    data = load_data(config)
    levels, shift = _levels(config, data)
    context = 0
    if config.data.conditional:
        if data.classes == 0:
            raise ConfigError(
                f"data.conditional: data set {data.name!r} has no labels to condition on"
            )
        if "context" not in entry.supplies:
            raise ConfigError(f"data.conditional: {entry.name} has no conditional form here")
        context = data.classes
    available = {"features": data.features, "context": context, "shape": data.image_shape}
    model = build_model(config, entry, supplied(entry, available, f"data set {data.name!r}"))
    if levels is not None:
        if not isinstance(model, Flow):
            raise ConfigError(f"model: {entry.name} is not a flow; {data.name!r} is discrete")
        try:
            model = dequantized(model, levels, config.data.dequantization, config.data.logit)
        except ValueError as error:
            raise ConfigError(f"data.{error}") from None
        model = model.to(config.train.device)  # the prefix and dequantizer, too
    return DensityExperiment(config, data, model, levels, shift)
