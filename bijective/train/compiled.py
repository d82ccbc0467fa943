"""The training loss through torch.compile, when it pays (`train.compile`).

Measured on 2 CPU cores (benchmarks/README.md, "Speed"): compiling a flow's loss takes
20 to 50 s on its first call and then runs 1.8x to 2.6x faster, so it pays back after
2,200 to 22,000 steps depending on the model. `auto` therefore times the first
PROBE_STEPS eager steps and compiles when the steps left would take eager code more than
PAYS_AFTER seconds (at a 2x speed-up a 40 s compile is repaid within 80 s); `true`
compiles from the first step. If compilation fails (no C++ compiler, an operation
dynamo cannot trace), the run warns once and goes on eagerly. The decision is saved with
the checkpoint, so a resumed run computes as the interrupted one did.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

PROBE_STEPS = 20
PAYS_AFTER = 90.0  # seconds of eager training left


def worth_compiling(seconds_per_step: float, steps_left: int) -> bool:
    """`auto`'s rule: the eager time left exceeds PAYS_AFTER."""
    return seconds_per_step * steps_left > PAYS_AFTER


class Probe:
    """Times eager training steps for `auto`: the first is a warm-up, the next
    PROBE_STEPS give the seconds per step."""

    def __init__(self) -> None:
        self.steps, self.seconds = 0, 0.0

    def record(self, seconds: float) -> float | None:
        """Adds one step's time; the mean once PROBE_STEPS are timed, else None."""
        self.steps += 1
        if self.steps > 1:
            self.seconds += seconds
        return self.seconds / PROBE_STEPS if self.steps == PROBE_STEPS + 1 else None


class CompiledLoss:
    """loss(model, batch) through torch.compile, falling back to the eager loss (with one
    warning through `log`) if compiling or running the compiled code raises."""

    def __init__(
        self, loss: Callable[[nn.Module, Any], Tensor], log: Callable[[str], None]
    ) -> None:
        self.eager = loss
        self.compiled = torch.compile(loss)
        self.log = log
        self.failed = False

    def __call__(self, model: nn.Module, batch: Any) -> Tensor:
        if self.failed:
            return self.eager(model, batch)
        try:
            return self.compiled(model, batch)
        except Exception as error:  # dynamo and inductor raise many kinds
            self.failed = True
            message = (str(error).strip().splitlines() or [""])[0][:200]
            line = (
                f"train.compile: torch.compile failed ({type(error).__name__}: {message}); "
                "training on eagerly"
            )
            warnings.warn(line, RuntimeWarning, stacklevel=2)
            self.log(line)
            return self.eager(model, batch)
