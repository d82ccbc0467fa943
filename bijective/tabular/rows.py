"""Checks of encoded table rows, and the Student-t density the heavy-tailed columns use."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..validation import check_context, check_tensor, validation_enabled


def check_rows(where: str, model: Any, x: object, context: Tensor | None) -> tuple[Tensor, tuple]:
    """Encoded rows (*batch, C) as (N, C) and the batch shape; with validation on, one
    error naming the column for NaN where it cannot be missing, an infinite value, or a
    code or count that is not an integer in range."""
    x = check_tensor(where, "x", x)
    columns = model.schema.columns
    if x.dim() == 0 or x.shape[-1] != len(columns):
        raise ValueError(
            f"{where}: expected encoded rows (*batch, {len(columns)}), one entry per column "
            f"({', '.join(c.name for c in columns)}); got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{where}: expected floating-point rows (NaN marks a missing entry); got {x.dtype}"
        )
    check_context(where, context, 0)
    batch = tuple(x.shape[:-1])
    rows = x.reshape(-1, len(columns))
    if validation_enabled():
        for j, spec in enumerate(columns):
            _check_column(where, spec, rows[:, j])
    return rows, batch


def _check_column(where: str, spec: Any, values: Tensor) -> None:
    missing = values.isnan()
    if missing.any() and not spec.missing:
        raise ValueError(
            f"{where}: column {spec.name!r} has NaN (missing), but the model has no missing "
            "entries for it"
        )
    present = values[~missing]
    if present.isinf().any():
        raise ValueError(f"{where}: column {spec.name!r} holds an infinite value")
    if spec.kind == "categorical":
        bad = (present != present.round()) | (present < 0) | (present >= len(spec.categories))
        if bad.any():
            raise ValueError(
                f"{where}: column {spec.name!r} is categorical: expected codes "
                f"0..{len(spec.categories) - 1}; got {present[bad][0].item():g}"
            )
    elif spec.kind == "count" and (present != present.round()).any():
        bad = present[present != present.round()][0].item()
        raise ValueError(f"{where}: column {spec.name!r} holds counts (integers); got {bad:g}")


def student_t_log_prob(z: Tensor, dof: Tensor) -> Tensor:
    """log t_nu(z) = lgamma((nu + 1) / 2) - lgamma(nu / 2) - log(nu pi) / 2
    - (nu + 1) / 2 log(1 + z^2 / nu), entry by entry (dof broadcasts over the last axis)."""
    half = (dof + 1) / 2
    norm = torch.lgamma(half) - torch.lgamma(dof / 2) - 0.5 * torch.log(dof * math.pi)
    return norm - half * torch.log1p(z * z / dof)
