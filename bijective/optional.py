"""Optional dependencies, imported on first use with a one-line error naming the install."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependency(ImportError):
    """An optional package (a data set's reader, the ODE solver) is not installed."""


def require(module: str, package: str, purpose: str) -> ModuleType:
    """Imports `module`, or raises MissingDependency naming the pip command for `package`."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise MissingDependency(
            f"{purpose} needs the package {package}: pip install {package}"
        ) from None
