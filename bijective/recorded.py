"""Modules that remember how they were built, so a saved model can be rebuilt by name.

`Recorded.__new__` keeps the arguments of the constructor call (the outermost one, for a
subclass) before __init__ runs; `built_with(module)` returns them bound to the
constructor's parameters, defaults filled in. bijective.saving writes them as JSON
beside the weights; nothing is pickled.
"""

from __future__ import annotations

import inspect
from typing import Any


class Recorded:
    """Mixed into the models of the catalogue (flows, autoregressive models, VAEs)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        module = super().__new__(cls)
        # nn.Module's __setattr__ needs its __init__ first: set the attribute directly.
        object.__setattr__(module, "_built_with", (args, kwargs))
        return module


def built_with(module: object) -> dict[str, Any] | None:
    """The constructor arguments of a Recorded module by name (defaults included), or
    None for a module that did not record them."""
    recorded = getattr(module, "_built_with", None)
    if recorded is None:
        return None
    bound = inspect.signature(type(module)).bind(*recorded[0], **recorded[1])
    bound.apply_defaults()
    return dict(bound.arguments)
