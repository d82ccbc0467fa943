"""Lower precision for the conditioner networks only (`train.precision: bf16`).

Inside `lower_precision(torch.bfloat16)`, the networks that compute a transform's
parameters (MLP, MADE, the coupling ResNets) run under torch.autocast, and their outputs
are cast back to the input's dtype; everything else (the transforms' own arithmetic, LU
and 1x1-convolution matrices, splines, log-determinants, base densities, the residual and
continuous flows' Lipschitz and ODE networks, which *are* the transform) stays in float32.
A coupling or autoregressive transform is exactly invertible for any parameters its
conditioner outputs, so sampling still inverts log_prob to float32 accuracy, and the
log-det is a float32 function of those parameters.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

# The dtype conditioners run in, or None. A module global, not a ContextVar: torch.compile
# reads a global as a guarded constant, while ContextVar.get breaks the graph at every
# conditioner (tests/train/test_compile.py checks that a compiled loss is one graph).
_lower: torch.dtype | None = None


@contextlib.contextmanager
def lower_precision(dtype: torch.dtype | None) -> Iterator[None]:
    """Conditioners run in `dtype` (bfloat16) inside; None leaves everything as it is."""
    global _lower
    previous, _lower = _lower, dtype
    try:
        yield
    finally:
        _lower = previous


def lowered() -> bool:
    """Whether conditioners run in lower precision here."""
    return _lower is not None


def conditioner(forward: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Decorates a conditioner network's forward(self, x, ...): under lower_precision it
    runs in autocast and returns x's dtype."""

    @functools.wraps(forward)
    def wrapped(self: Any, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        dtype = _lower
        if dtype is None:
            return forward(self, x, *args, **kwargs)
        with torch.autocast(x.device.type, dtype=dtype):
            out = forward(self, x, *args, **kwargs)
        return out.to(x.dtype)

    return wrapped


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (Linux: avx512_bf16 or AMX flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def note_emulation(
    dtype: torch.dtype | None, device: torch.device, log: Callable[[str], None]
) -> None:
    """Says once, through `log`, that bfloat16 on this CPU is emulated (slower, not faster)."""
    if dtype is not None and device.type == "cpu" and not cpu_has_bf16():
        log("train.precision bf16: this CPU has no bfloat16 instructions, so it is emulated")
