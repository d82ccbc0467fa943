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

from .distributed import Group, agree
from .state import Progress

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


class Decisions:
    """train.compile for one run: whether the training loss and the evaluation run
    through torch.compile, decided from the config (true, false) or, for `auto`, from
    timings (the first PROBE_STEPS eager steps; the first validation), agreed across
    processes. The decisions live in `progress`, saved with the checkpoint (the keys old
    runs have), so a resumed run compiles as the interrupted one did. `loss` is the loss
    to train with, `compile_evaluation(log)` the kind's switch of `validate` (None: its
    evaluation stays eager)."""

    def __init__(
        self,
        progress: Progress,
        compile: bool | str,
        group: Group,
        log: Callable[[str], None],
        loss: Callable[..., Any],
        compile_evaluation: Callable[[Callable[[str], None]], None] | None,
    ) -> None:
        self.progress, self.group, self.log = progress, group, log
        self.eager, self.compile_evaluation = loss, compile_evaluation
        if compile != "auto":  # true or false: the config decides
            progress.compile_decided, progress.compiled = True, bool(compile)
            progress.eval_compile_decided, progress.eval_compiled = True, bool(compile)
        if compile_evaluation is None:
            progress.eval_compile_decided, progress.eval_compiled = True, False
        elif progress.eval_compiled:
            compile_evaluation(log)
        self.loss = Compiled(loss, log, "training") if progress.compiled else loss
        self.probe = Probe()

    def after_step(self, seconds: float, steps_left: int) -> None:
        """`auto`: times the eager steps, then decides (the loss changes from the next)."""
        if self.progress.compile_decided:
            return
        per_step = self.probe.record(seconds)
        if per_step is None:
            return
        self.progress.compiled = agree(worth_compiling(per_step, steps_left), self.group)
        self.progress.compile_decided = True
        if self.progress.compiled:
            left = per_step * steps_left
            self.log(f"train.compile auto: compiling the loss ({left:.0f} s of eager steps left)")
            self.loss = Compiled(self.eager, self.log, "training")

    def after_validation(self, seconds: float, evaluations_left: int) -> None:
        """`auto`: decides the evaluation from the first validation's eager seconds (the
        validations left plus the final validation and test passes)."""
        if self.progress.eval_compile_decided or self.compile_evaluation is None:
            return
        compiled = agree(worth_compiling(seconds, evaluations_left), self.group)
        self.progress.eval_compiled, self.progress.eval_compile_decided = compiled, True
        if compiled:
            left = f"{seconds * evaluations_left:.0f} s of eager evaluation left"
            self.log(f"train.compile auto: compiling the evaluation ({left})")
            self.compile_evaluation(self.log)
