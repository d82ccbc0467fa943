"""How many CPU threads a training run uses (`train.threads`).

Measured (benchmarks/threads.py, 2 cores): a second thread speeds one training step of
the demo's vector models by at most 14% on an idle machine (NSF on moons 21.9 -> 18.8 ms,
MAF on digits 27.1 -> 25.2 ms) and image flows by 1.4-1.5x (Glow 138 -> 97 ms), while on a
machine where another job keeps 2 threads busy, 2 threads are 2-4x slower than 1 for every
model (NSF 35 -> 90 ms, MAF 43 -> 171 ms, Glow 214 -> 505 ms): the threads spin against
each other. So `auto` is 1 thread for vector models, and for image models the cores that
the 1-minute load average leaves free (at least 1). The choice is saved with the
checkpoint, so a resumed run uses the same count (and the same floating-point reductions).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
from torch import nn


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def auto_threads(model: nn.Module) -> int:
    """1 for a model of vectors; for images (event shape (C, H, W)), the cores not busy
    with other work by the 1-minute load average."""
    if len(getattr(model, "event_shape", ())) != 3:
        return 1
    busy = round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, cores() - busy)


@contextlib.contextmanager
def using_threads(count: int) -> Iterator[None]:
    """torch.set_num_threads(count) inside, the previous count restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
