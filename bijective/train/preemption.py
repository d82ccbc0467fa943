"""Preemption: SIGTERM (what SLURM, Kubernetes and spot instances send before they stop a
job) and SIGINT (Ctrl-C) end training after the step under way, with a checkpoint, never
in the middle of one. A second signal acts at once (its default: the process ends, or
KeyboardInterrupt), which still leaves the last whole checkpoint, since checkpoints are
swapped in by renames. Under torchrun the processes agree every step on whether any of
them was signalled, so all stop at the same step and rank 0 writes that checkpoint.
The command line then exits with status 128 + the signal's number (143 for SIGTERM,
130 for SIGINT), as a process ended by that signal would.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(Exception):
    """Training stopped by a signal at `step`, its checkpoint written."""

    def __init__(self, step: int, signum: int, run_dir: Path) -> None:
        self.step, self.signum = step, signum
        self.exit_status = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped at step {step} by {name}; `bijective resume {run_dir}` continues"
        )


class StopSignals:
    """Within `with StopSignals() as stop:`, SIGTERM and SIGINT set `stop.signum` instead
    of ending the process; a second one restores the previous handlers and acts at once:
    KeyboardInterrupt for SIGINT, the default action (the process ends) for SIGTERM.
    Outside the main thread (where Python cannot handle signals) it installs nothing."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            return
        self._restore()  # the second: at once, whatever handler was there before
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._restore()
