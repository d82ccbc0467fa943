"""The figures of a run, one function per data type, drawn through bijective.viz.

Every run writes plots/curves.png (`start`); then the kind's `write_plots` picks the
figures of its data: 2-D points (the learned density and samples against the test set),
images (samples at T = 1 and 0.7, test images, a latent interpolation for a flow, each
sample beside its nearest training image for an autoregressive model), tables (each
column of the test rows beside samples), text (samples as lines), a 2-D target (the
fitted q against the unnormalised target) and a decoder's means.
The experiments hold no plotting code; viz holds no run.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn

from ... import viz
from ...data import Dataset, Split
from ...flows import DequantizedFlow
from ...models import DiscreteAutoregressive
from ...modes import evaluating
from ...targets import Target
from ..config import Config
from ..metrics import Metric, read_metrics


class DataRun(Protocol):
    """What the figures read of a run on data (train.kinds.density.DensityExperiment)."""

    config: Config
    data: Dataset
    model: nn.Module

    @property
    def conditional(self) -> bool: ...
    @property
    def device(self) -> torch.device: ...
    def seeded(self, seed: int) -> AbstractContextManager[None]: ...
    def sample(
        self, n: int, temperature: float = 1.0, label: int | None = None, *, guidance: float = 0.0
    ) -> Tensor: ...
    def inputs(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor: ...
    def split_inputs(self, split: Split, seed: int) -> Tensor: ...
    def to_data_space(self, y: Tensor) -> Tensor: ...
    def save_samples(self, samples: Tensor, path: Path, caption: str = "") -> None: ...


def start(run_dir: Path, metric: Metric) -> Path:
    """run_dir/plots, created, with the training curves of run_dir/metrics.csv in it."""
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    rows = read_metrics(run_dir / "metrics.csv")
    viz.training_curves(rows, plots / "curves.png", f"validation {metric.label}")
    return plots


def image_samples(
    samples: Tensor, shape: tuple[int, ...], levels: int, path: Path, title: str
) -> None:
    """Samples in pixel values {0..levels-1}, flattened, as one grid."""
    viz.image_grid(samples.view(-1, *shape) / (levels - 1), path, title=title)


def _test_rows(run: DataRun) -> Tensor:
    """The test rows as the model sees them (binarised with the results' seed), in the
    data's units, flattened."""
    return run.to_data_space(run.split_inputs(run.data.test, run.config.data.seed + 2))


def point_samples(run: DataRun, samples: Tensor, path: Path, caption: str) -> None:
    """2-D samples in the data's units against the test set."""
    test = _test_rows(run)
    viz.samples_2d(samples, test, path, caption)


def target_samples(target: Target, samples: Tensor, path: Path, caption: str) -> None:
    """2-D samples of q over the target's density."""
    viz.samples_on_target(samples, target, path, caption)


def points_2d(run: DataRun, plots: Path) -> None:
    """density.png (unconditional) and samples.png (per class when conditional)."""
    data = run.data
    if run.conditional:
        test = _test_rows(run)
        per_class = run.sample(500).view(data.classes, 500, 2)
        viz.conditional_samples_2d(per_class, test, data.test.labels, plots / "samples.png")
        return
    units = "standardised" if data.scale is not None else "data units"
    with evaluating(run.model):
        log_p = lambda x: run.model.log_prob(x.to(run.device))  # noqa: E731
        viz.density_2d(log_p, data.test.x, plots / "density.png", units=units)
    point_samples(run, run.sample(len(data.test)), plots / "samples.png", "T = 1")


def images(run: DataRun, plots: Path) -> None:
    """samples_T1.0.png, samples_T0.7.png (one row per class when conditional), data.png,
    and interpolation.png (a dequantized flow) or samples_nearest.png (an autoregressive
    model of pixels)."""
    data, shape = run.data, run.data.image_shape
    grid = lambda x: x.view(-1, *shape) / (data.levels - 1)  # noqa: E731
    n, rows = (10, 10) if run.conditional else (64, 8)
    for t in (1.0, 0.7):
        with run.seeded(0):
            samples = run.sample(n, t)
        title = f"samples, T = {t}" + (", one row per class" if run.conditional else "")
        viz.image_grid(grid(samples), plots / f"samples_T{t}.png", rows, title)
    test = _test_rows(run)
    viz.image_grid(grid(test[:64]), plots / "data.png", 8, "test images")
    if run.conditional:
        return
    if isinstance(run.model, DequantizedFlow):
        lines = interpolate(run.model, run.inputs(data.test.x[:8]))
        title = "latent interpolation, test images"
        viz.image_grid(lines.view(-1, *shape), plots / "interpolation.png", 4, title)
    if isinstance(run.model, DiscreteAutoregressive):
        with run.seeded(1):
            samples = run.sample(8)
        train = run.to_data_space(run.split_inputs(data.train, run.config.data.seed))
        title = "each sample beside its nearest training image"
        viz.image_grid(grid(nearest(samples, train)), plots / "samples_nearest.png", 8, title)


def table(run: DataRun, plots: Path) -> None:
    """columns.png: each column of the test rows beside samples (at least 2,000; a bar
    per category, histograms of numbers; missing entries as a bar of their own)."""
    test = _test_rows(run)
    with run.seeded(0):
        samples = run.sample(max(len(test), 2000))
    panels = []
    for j, spec in enumerate(run.data.schema.columns):
        categories = list(spec.categories) if spec.kind == "categorical" else None
        panels.append((spec.name, categories, test[:, j], samples[:, j]))
    title = f"{len(test)} test rows and {len(samples)} samples"
    viz.column_marginals(panels, plots / "columns.png", title)


def text(run: DataRun, plots: Path) -> None:
    """samples.txt: 16 samples, one per line."""
    with run.seeded(0):
        run.save_samples(run.sample(16), plots / "samples.txt")


def target_2d(model: nn.Module, target: Target, device: torch.device, plots: Path) -> None:
    """density.png: q's density (the model, a Density on `device`) and 20,000 of its
    samples beside the target's."""
    with evaluating(model), torch.no_grad():
        samples = model.sample((20_000,)).cpu()
        log_q = lambda z: model.log_prob(z.to(device))  # noqa: E731
        viz.target_fit(log_q, samples, target, plots / "density.png")


def decoder_means(model: nn.Module, shape: tuple[int, ...], plots: Path) -> None:
    """samples.png: a VAE's decoder means E[x | z] for 64 prior draws z ~ N(0, I), as
    images of `shape`."""
    means = model.sample((64,), mean=True).cpu()
    title = "decoder means E[x | z], z ~ N(0, I)"
    viz.image_grid(means.view(-1, *shape), plots / "samples.png", 8, title)


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


def nearest(samples: Tensor, train: Tensor) -> Tensor:
    """Each sample followed by its nearest training row (squared distance): (2N, D),
    interleaved (the MADE paper's Figure 3)."""
    closest = torch.cdist(samples.double(), train.double()).argmin(1)
    return torch.stack([samples, train[closest].to(samples.dtype)], 1).flatten(0, 1)
