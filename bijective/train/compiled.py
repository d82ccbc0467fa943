"""The training loss and the evaluation through torch.compile, when it pays
(`train.compile`).

Measured on 2 CPU cores (benchmarks/README.md, "Speed"): compiling a flow's loss takes
20 to 50 s on its first call and then runs 1.8x to 2.6x faster, so it pays back after
2,200 to 22,000 steps depending on the model. `auto` therefore times the first
PROBE_STEPS eager steps and compiles when the steps left would take eager code more than
PAYS_AFTER seconds (at a 2x speed-up a 40 s compile is repaid within 80 s); `true`
compiles from the first step. The evaluation (a density model's log_prob over the
validation and test sets, without gradients: a graph of its own, compiled separately) is
decided alike: `auto` times the first validation and compiles when the evaluations left
would take eager code more than PAYS_AFTER seconds. If compilation fails (no C++
compiler, an operation dynamo cannot trace), the run warns once and goes on eagerly. The
decisions are saved with the checkpoint, so a resumed run computes as the interrupted one
did.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

PROBE_STEPS = 20
PAYS_AFTER = 90.0  # seconds of eager training left


def worth_compiling(seconds_per_call: float, calls_left: int) -> bool:
    """`auto`'s rule: the eager time left (training steps or evaluations) exceeds
    PAYS_AFTER."""
    return seconds_per_call * calls_left > PAYS_AFTER


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


class Compiled:
    """fn through torch.compile, falling back to the eager fn (with one warning through
    `log`) if compiling or running the compiled code raises; `doing` names what goes on
    eagerly then ("training", "evaluating"). Random draws in compiled code (dropout,
    dequantization noise) come from torch's generator, as in eager code (inductor's
    fallback_random), so a compiled run draws what the eager one does."""

    def __init__(self, fn: Callable[..., Any], log: Callable[[str], None], doing: str) -> None:
        self.eager = fn
        self.compiled = torch.compile(fn, options={"fallback_random": True})
        self.log, self.doing = log, doing
        self.failed = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.failed:
            return self.eager(*args, **kwargs)
        try:
            return self.compiled(*args, **kwargs)
        except Exception as error:  # dynamo and inductor raise many kinds
            self.failed = True
            message = (str(error).strip().splitlines() or [""])[0][:200]
            line = (
                f"train.compile: torch.compile failed ({type(error).__name__}: {message}); "
                f"{self.doing} on eagerly"
            )
            warnings.warn(line, RuntimeWarning, stacklevel=2)
            self.log(line)
            return self.eager(*args, **kwargs)
