"""bijective: normalizing flows in PyTorch.

A Transform maps data x to latent z and returns log|det dz/dx|; a Flow pairs a transform
with a base distribution for exact log-likelihoods and sampling. Every model is a Density
(log_prob and sample). `bj.train` and `bj.catalogue` load on first use (they bring the
config validator), and so do `bj.save` and `bj.load` (a model as a shareable folder)
and `bj.export` (a program to serve) and `bj.pretrained` (the shipped models);
`bj.viz` imports matplotlib only when a plot is drawn.
"""

from importlib import import_module
from typing import Any

from . import data, distributions, flows, models, nn, objectives, tabular, targets, transforms, viz
from .checks import CheckError, CheckReport, check
from .density import Density
from .flows import Flow
from .transforms.roots import ConvergenceError
from .validation import set_validation, validation_enabled

__version__ = "0.1.0"

__all__ = [
    "CheckError",
    "CheckReport",
    "ConvergenceError",
    "Density",
    "DensityEstimator",
    "Flow",
    "catalogue",
    "check",
    "data",
    "distributions",
    "export",
    "flows",
    "load",
    "models",
    "nn",
    "objectives",
    "pretrained",
    "save",
    "targets",
    "set_validation",
    "tabular",
    "train",
    "transforms",
    "validation_enabled",
    "viz",
]

_LAZY = ("train", "catalogue")
# Functions of modules that bring the catalogue, safetensors or torch.export: on first use.
_FUNCTIONS = {
    "save": ".saving",
    "load": ".saving",
    "export": ".exporting",
    "pretrained": ".zoo",
    "DensityEstimator": ".estimator",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return import_module(f".{name}", __name__)
    if name in _FUNCTIONS:
        return getattr(import_module(_FUNCTIONS[name], __name__), name)
    raise AttributeError(f"module 'bijective' has no attribute {name!r}")
