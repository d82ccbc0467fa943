"""Evaluation mode for a block of code: `with evaluating(model):` switches dropout,
BatchNorm and friends to eval and restores the module's previous mode on exit, also when
the block raises."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """model.eval() inside; model.train(previous mode) after, whatever happens."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
