"""bj.train's loop on an experiment with a benchmark's own `validate` (a probe that
records a trajectory, or a clock that stops the run), in a temporary run directory, with
no output: what `bijective train` runs, minus its files and messages."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from torch import nn

from bijective.train.loop import fit
from bijective.train.state import Progress


def fit_quietly(experiment: object, validate: Callable[[nn.Module], float]) -> Progress:
    """Trains experiment.model in place by experiment.config.train, validating by
    `validate` every eval_every steps (an exception it raises ends the run); returns the
    loop's Progress (steps, seconds)."""
    with tempfile.TemporaryDirectory() as run_dir:
        return fit(
            experiment.model,
            experiment.loss,
            experiment.draw,
            validate,
            experiment.config.train,
            Path(run_dir),
            log=lambda *_: None,
        )
