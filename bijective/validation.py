"""Input checks at the public entry points, switched off with `set_validation(False)`.

Validation runs once per public call (`Transform.forward`, `Flow.log_prob`, ...), never in
the inner calls a deep flow makes, so a model of many layers pays for it once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

Shape = tuple[int, ...]

_enabled = True


def set_validation(enabled: bool) -> None:
    """Turn input validation on (the default) or off for speed, like torch.distributions'
    `validate_args`. Off, bad input fails wherever torch first trips on it."""
    global _enabled
    _enabled = bool(enabled)


def validation_enabled() -> bool:
    """Whether public entry points validate their input: on unless turned off, and never
    inside code that torch.compile traces (a check reads tensor values, which would cut
    the graph in two around a Python round trip; train.compile's loss and evaluation see
    data checked when the data set was loaded)."""
    return _enabled and not torch.compiler.is_compiling()


def as_shape(shape: int | Sequence[int]) -> Shape:
    """An event shape as a tuple: `8 -> (8,)`, `(3, 4) -> (3, 4)`."""
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(int(s) for s in shape)
    if any(s < 1 for s in shape):
        raise ValueError(f"expected a shape of positive sizes; got {shape}")
    return shape


def check_permutation(where: str, value: object, features: int | None = None) -> Tensor:
    """`value` as a long tensor, checked to be a 1-D permutation of 0..D-1 (D = `features`
    when given, else its length)."""
    p = torch.as_tensor(value, dtype=torch.long)
    d = p.numel() if features is None else features
    if p.dim() != 1 or p.numel() != d or not torch.equal(p.sort().values, torch.arange(d)):
        raise ValueError(f"{where}: expected a 1-D permutation of 0..{d - 1}; got {p.tolist()}")
    return p


def _fmt(shape: Shape) -> str:
    return ", ".join(str(s) for s in shape)


def check_tensor(where: str, name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{where}: expected {name} to be a torch.Tensor; got {type(value).__name__}"
        )
    return value


def check_event(where: str, name: str, value: object, event_shape: Shape | None) -> Shape | None:
    """Checks `value` is a tensor of shape (*batch, *event_shape); returns the batch shape
    (None when the event shape is not known)."""
    x = check_tensor(where, name, value)
    if event_shape is None:
        return None
    n = len(event_shape)
    if x.dim() < n or tuple(x.shape[x.dim() - n :]) != event_shape:
        raise ValueError(
            f"{where}: expected {name} of shape (*batch, {_fmt(event_shape)}); "
            f"got shape {tuple(x.shape)}"
        )
    return tuple(x.shape[: x.dim() - n])


def check_finite(where: str, name: str, x: Tensor) -> None:
    # NaN and inf reach the sum, so a finite sum (one reduction) clears the data; only a
    # non-finite sum (or an overflowing one) pays for the entry-by-entry test.
    if x.numel() == 0 or bool(torch.isfinite(x.sum())):
        return
    bad = ~torch.isfinite(x)
    if bad.any():
        raise ValueError(
            f"{where}: {name} contains NaN or infinite values ({int(bad.sum())} of {x.numel()} "
            "entries); clean the data, or turn validation off with bj.set_validation(False)"
        )


def check_dtype(where: str, name: str, x: Tensor, dtype: torch.dtype | None) -> None:
    """A model of floating dtype takes floating input of its own dtype only: float64 data
    for a float32 model (or integers, or float16) is refused rather than silently cast or
    failing deep inside. Convert with x.to(dtype), or the model with model.to(x.dtype)."""
    if dtype is not None and x.dtype != dtype:
        raise ValueError(
            f"{where}: {name} has dtype {x.dtype} but the model's parameters are {dtype}; "
            f"convert one of them ({name}.to({dtype}) or model.to({x.dtype}))"
        )


def check_sample_shape(where: str, shape: int | Sequence[int]) -> tuple[int, ...]:
    """A sample shape as a tuple of sizes >= 0 (0 gives an empty sample)."""
    shape = tuple(shape) if isinstance(shape, Sequence) else (shape,)
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ValueError(f"{where}: expected a sample shape of integers >= 0; got {shape}")
    return shape


def check_temperature(where: str, temperature: float) -> None:
    """Temperature T scales the base's (or the conditionals') spread: a finite T > 0."""
    if not (isinstance(temperature, int | float) and math.isfinite(temperature)) or (
        temperature <= 0
    ):
        raise ValueError(f"{where}: temperature must be a finite number > 0; got {temperature!r}")


def check_sampling(
    where: str,
    shape: int | Sequence[int],
    temperature: float,
    context: object,
    features: int | None,
    dtype: torch.dtype | None = None,
) -> tuple[int, ...]:
    """The checks every `sample(shape, context, temperature)` opens with: the sample shape
    (returned as a tuple), the temperature, and the context against `features` (as
    check_context; the context check is skipped while validation is off)."""
    shape = check_sample_shape(where, shape)
    check_temperature(where, temperature)
    if validation_enabled():
        check_context(where, context, features, dtype=dtype)
    return shape


def check_context(
    where: str,
    context: object,
    features: int | None,
    batch_shape: Shape | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Checks a context against what the model was built for: `features` None means the
    model has no conditioner and cannot use a context, 0 that it was built without one
    (both raise on a context rather than ignore it); C > 0 means it needs one of shape
    (*batch, C) whose batch shape broadcasts to `batch_shape`, finite, and of `dtype`
    when given."""
    if not features:
        if context is not None:
            shape = tuple(context.shape) if isinstance(context, Tensor) else type(context).__name__
            built = "has no conditioner" if features is None else "was built without context"
            raise ValueError(f"{where}: this model {built} (context=0); got a context {shape}")
        return
    if context is None:
        raise ValueError(
            f"{where}: this model needs a context of shape (*batch, {features}); got none"
        )
    c = check_tensor(where, "context", context)
    if c.dim() == 0 or c.shape[-1] != features:
        raise ValueError(
            f"{where}: expected context of shape (*batch, {features}); got shape {tuple(c.shape)}"
        )
    check_finite(where, "context", c)
    check_dtype(where, "context", c, dtype)
    if batch_shape is not None:
        try:
            ok = torch.broadcast_shapes(c.shape[:-1], batch_shape) == torch.Size(batch_shape)
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(
                f"{where}: context batch shape {tuple(c.shape[:-1])} does not broadcast to the "
                f"input's batch shape {batch_shape}"
            )


def after_load(module: object, incompatible_keys: object) -> None:
    """A load_state_dict post hook: calls the module's `_after_load`, which recomputes
    what it derives from its buffers. A plain function, so modules still pickle."""
    module._after_load()  # type: ignore[attr-defined]
