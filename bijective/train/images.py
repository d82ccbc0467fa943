"""An image-flow experiment: a multi-scale flow (Glow, ImageRealNVP) on integer pixels with
uniform or variational dequantization, trained by the negative dequantization bound with
the same loop, checkpoints, metrics and plots as the other experiments.

With `data.n_bits` n < 8 on 256-level data, pixels are reduced to x // 2^(8 - n), 2^n
levels (Glow's 5-bit option). The flow sees logit(a + (1 - 2a) y) of y = (x + u) / L
(a = data.logit), log-det counted. Reported, in bits per dimension of the integer data:
the test bound (one dequantization draw per image) and the importance-weighted bound
with train.importance_samples draws (variational dequantization's evaluation, Ho et al.
2019); plots: sample grids at temperatures 1.0 and 0.7 and a latent interpolation
between test images.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..data import Dataset, Split
from ..flows import DequantizedFlow, Flow
from ..transforms import Compose, Logit
from ..transforms.dequantization import UniformDequantization, VariationalDequantization
from .common import Run
from .config import IMAGE_ARCHITECTURES, Config, ConfigError
from .loop import Progress


@dataclass
class ImageExperiment(Run):
    config: Config
    data: Dataset
    model: DequantizedFlow
    levels: int
    shift: int  # pixels are x >> shift

    metric = "val_nll"

    def images(self, x: Tensor) -> Tensor:
        """Rows of pixels as integer-valued images (N, C, H, W) at the configured bits."""
        x = x.view(-1, *self.data.image_shape)
        return torch.div(x, 2**self.shift, rounding_mode="floor").to(self.device)

    def draw(self, generator: torch.Generator, step: int) -> Tensor:
        rows = torch.randint(len(self.data.train), (self.config.train.batch,), generator=generator)
        return self.images(self.data.train.x[rows])

    def loss(self, model: DequantizedFlow, x: Tensor) -> Tensor:
        return -model.log_prob(x).mean()

    def _nll(self, split: Split, seed: int, samples: int = 1) -> float:
        """-log P(x) per image in nats (the bound with `samples` draws), seeded."""
        score = lambda rows: self.model.log_prob(rows, samples)  # noqa: E731
        return self.mean_negative(self.images(split.x), score, seed)

    def validate(self, model: DequantizedFlow) -> float:
        return self._nll(self.data.val, self.config.data.seed + 1)

    def bits(self, nll: float) -> float:
        return nll / (self.data.features * math.log(2))

    def results(self, progress: Progress) -> dict[str, Any]:
        started = time.perf_counter()
        seed, samples = self.config.data.seed + 2, self.config.train.importance_samples
        test = self._nll(self.data.test, seed)
        test_iw = self._nll(self.data.test, seed, samples)
        val = self._nll(self.data.val, self.config.data.seed + 1)
        return {
            "name": self.config.name,
            "data": self.data.name,
            "model": self.config.model.name,
            "dequantization": self.config.data.dequantization,
            "levels": self.levels,
            **self.summary(progress),
            "val_nll": val,
            "test_nll": test,
            "val_bits_per_dim": self.bits(val),
            "test_bits_per_dim": self.bits(test),
            "test_bits_per_dim_iw": self.bits(test_iw),
            "importance_samples": samples,
            "eval_seconds": round(time.perf_counter() - started, 1),
        }

    def to_data_space(self, y: Tensor) -> Tensor:
        """Integer samples at the configured bits -> pixel values of the data's levels."""
        return y.detach().cpu().view(len(y), -1) * 2**self.shift

    def write_plots(self, run_dir: Path) -> None:
        from .. import viz

        plots = run_dir / "plots"
        plots.mkdir(exist_ok=True)
        viz.training_curves(run_dir / "metrics.csv", plots / "curves.png")
        self.model.eval()
        for t in (1.0, 0.7):
            torch.manual_seed(0)
            grid = self.model.sample((64,), temperature=t).cpu() / (self.levels - 1)
            viz.image_grid(grid, plots / f"samples_T{t}.png", rows=8)
        viz.image_grid(
            interpolate(self.model, self.images(self.data.test.x[:8])).cpu(),
            plots / "interpolation.png",
            rows=4,
        )


@torch.no_grad()
def interpolate(model: DequantizedFlow, x: Tensor, points: int = 8) -> Tensor:
    """Rows of `points` images from x[2i] to x[2i+1] (Glow, Figure 5): encode the pixel
    centres (x + 1/2) / L, walk the latent line, decode and quantize; values in [0, 1]."""
    levels, flow = model.levels, model.flow
    z = flow.encode((x + 0.5) / levels)
    w = torch.linspace(0, 1, points, device=x.device)[:, None]
    rows = [(1 - w) * z[a] + w * z[a + 1] for a in range(0, len(x) - 1, 2)]
    y = flow.decode(torch.cat(rows))
    return (y * levels).floor().clamp(0, levels - 1) / (levels - 1)


def build(config: Config, data: Dataset) -> ImageExperiment:
    shape, levels = data.image_shape, data.levels
    if shape is None or levels is None:
        raise ConfigError(f"model: {config.model.name} models images; {data.name!r} is not")
    if config.data.conditional:
        raise ConfigError(f"data.conditional: {config.model.name} has no conditional form here")
    shift = 0
    if config.data.n_bits is not None:
        if levels != 256 or not 1 <= config.data.n_bits <= 8:
            raise ConfigError(
                f"data.n_bits: reduces 256-level pixels to 1..8 bits; {data.name!r} has "
                f"{levels} levels, n_bits={config.data.n_bits}"
            )
        shift, levels = 8 - config.data.n_bits, 2**config.data.n_bits
    torch.manual_seed(config.train.seed)
    options = config.model.model_dump(exclude={"name"})
    try:
        core = IMAGE_ARCHITECTURES[config.model.name](shape, **options)
    except ValueError as error:
        raise ConfigError(f"model: {error}") from None
    alpha = config.data.logit if config.data.logit is not None else 0.0
    flow = Flow(Compose(Logit(shape, alpha=alpha), core.transform), core.base)
    if config.data.dequantization == "variational":
        dequantizer = VariationalDequantization(shape, levels)
    else:
        dequantizer = UniformDequantization(levels)
    model = DequantizedFlow(flow, dequantizer, levels).to(config.train.device)
    return ImageExperiment(config, data, model, levels, shift)
