"""The standard normal log-density, shared by the bases, the VAE prior and posteriors and
the variational dequantizer (one definition of log 2 pi)."""

from __future__ import annotations

import math

from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def log_normal(e: Tensor) -> Tensor:
    """log N(e; 0, 1) elementwise: -(e^2 + log 2 pi) / 2, the shape of e."""
    return -0.5 * (e * e + LOG_2PI)
