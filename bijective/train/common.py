"""What every experiment kind shares: its device, seeded evaluation, and the first fields
of its results."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from .config import Config
from .loop import Progress


class Run:
    """Mixed into the experiment dataclasses (they define `config` and `model`)."""

    config: Config
    model: nn.Module
    conditional = False

    @property
    def device(self) -> torch.device:
        return torch.device(self.config.train.device)

    @contextlib.contextmanager
    def seeded(self, seed: int) -> Iterator[None]:
        """Random draws seeded by `seed` inside, the global random state untouched outside
        (so evaluating never changes what training draws next)."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def mean_negative(self, x: Tensor, score: Callable[[Tensor], Tensor], seed: int) -> float:
        """The mean of -score(rows) over the rows of x, in chunks of train.eval_batch, in
        eval mode without gradients, its random draws seeded by `seed` (so validation is a
        fixed function of the weights); the model's mode is restored."""
        was_training = self.model.training
        self.model.eval()
        total = 0.0
        with torch.no_grad(), self.seeded(seed):
            for rows in x.split(self.config.train.eval_batch):
                total -= float(score(rows).double().sum())
        self.model.train(was_training)
        return total / len(x)

    def summary(self, progress: Progress) -> dict[str, Any]:
        """The results' fields about the model's size and the training loop."""
        return {
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "steps": progress.step,
            "best_step": progress.best_step,
            "stopped_early": progress.stopped_early,
            "skipped_steps": progress.skipped,
            "train_seconds": round(progress.seconds, 1),
        }
