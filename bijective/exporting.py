"""bj.export: a model's log-density, or a flow's sampling map, as a program that runs
without bijective: torch.export's .pt2 (`torch.export.load(path).module()`) or, with the
`[export]` extra, ONNX (.onnx, for onnxruntime and other servers).

    method="log_prob"  x (batch, *event_shape) [, context (batch, C)] -> log p(x) (batch)
    method="sample"    z (batch, *latent_shape) [, context] -> x = f^{-1}(z), a flow's
                       sampling map: draw z from the base (N(0, I) for every flow of the
                       catalogue but planar and radial with base="uniform"), times the
                       temperature T, and the program returns the samples.

The batch dimension is dynamic; the event, latent and context sizes are fixed (an image
model at its (C, H, W)). The program is traced in eval mode with the input checks left
out (they are data-dependent Python), so it trusts its inputs. Models whose log-density
is random (a VAE's importance-weighted estimate, a DequantizedFlow's dequantization bound:
export its `.flow`) or whose computation has a data-dependent number of steps (continuous
flows' adaptive ODE solvers, residual flows' fixed-point inverses and log-det series) are
refused with one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from .flows import DequantizedFlow, Flow
from .models import VAE
from .optional import require
from .train.faults import write_atomically, writing
from .transforms import ContinuousFlow, ConvInvertibleResidual, InvertibleResidual
from .validation import set_validation, validation_enabled

Method = Literal["log_prob", "sample"]
ITERATIVE = (ContinuousFlow, InvertibleResidual, ConvInvertibleResidual)


class ExportError(ValueError):
    """A model or method that cannot be exported, in one line."""


class _LogProb(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.model.log_prob(x, context)


class _Sample(nn.Module):
    def __init__(self, flow: Flow) -> None:
        super().__init__()
        self.flow = flow

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        return self.flow.transform.inverse(z, context)[0]


def _check(model: nn.Module, method: str) -> None:
    name = type(model).__name__
    if method not in ("log_prob", "sample"):
        raise ExportError(f"bj.export: method must be 'log_prob' or 'sample'; got {method!r}")
    if isinstance(model, VAE | DequantizedFlow):
        hint = "export its .flow (the density of the dequantized data)"
        raise ExportError(
            f"bj.export: {name}'s log_prob is a random estimate; "
            + (hint if isinstance(model, DequantizedFlow) else "it cannot be exported")
        )
    iterative = next((type(m).__name__ for m in model.modules() if isinstance(m, ITERATIVE)), None)
    if iterative is not None:
        raise ExportError(
            f"bj.export: {name} holds a {iterative}, whose solver takes a data-dependent "
            "number of steps; it cannot be exported"
        )
    if method == "sample" and not isinstance(model, Flow):
        raise ExportError(
            f"bj.export: method='sample' exports a flow's map from base noise to samples; "
            f"{name} samples step by step with random draws: export its log_prob"
        )


def context_size(model: nn.Module) -> int:
    """C of a conditional model (a flow's transform's, or an autoregressive model's), or 0."""
    size = model.transform.context_features if isinstance(model, Flow) else None
    return size or getattr(model, "context_features", 0) or 0


def _example(model: nn.Module, method: str, batch: int) -> tuple[Tensor, ...]:
    """Inputs of the right shapes and dtype to trace with."""
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    if method == "sample":
        shape = model.transform.latent_shape
        first = torch.randn(batch, *shape, dtype=dtype, device=device)
    elif hasattr(model, "levels"):  # an autoregressive model of discrete values
        levels = model.levels
        first = torch.randint(levels, (batch, *model.event_shape), device=device).to(dtype)
    else:
        first = torch.rand(batch, *model.event_shape, dtype=dtype, device=device)
    context = context_size(model)
    if context:
        return first, torch.randn(batch, context, dtype=dtype, device=device)
    return (first,)


def export(model: nn.Module, path: str | Path, method: Method = "log_prob") -> Path:
    """Writes `model`'s `method` (see the module docstring) to `path`: .pt2 (torch.export)
    or .onnx (with onnx and onnxscript installed); returns the path."""
    path = Path(path)
    if path.suffix not in (".pt2", ".onnx"):
        raise ExportError(f"bj.export: {path}: expected a .pt2 or .onnx file name")
    _check(model, method)
    training, checking = model.training, validation_enabled()
    wrapper = _LogProb(model) if method == "log_prob" else _Sample(model)
    example = _example(model, method, batch=4)
    batch = torch.export.Dim("batch")
    dynamic = tuple({0: batch} for _ in example)
    model.eval()
    set_validation(False)
    try:
        program = torch.export.export(wrapper, example, dynamic_shapes=dynamic)
    except Exception as error:  # export raises many kinds
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ExportError(
            f"bj.export: {type(model).__name__}.{method} cannot be exported "
            f"({type(error).__name__}: {first})"
        ) from None
    finally:
        model.train(training)
        set_validation(checking)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".pt2":
        write_atomically(path, lambda f: torch.export.save(program, f))
        return path
    require("onnxscript", "onnxscript", "exporting to ONNX")
    tmp = path.with_name(path.name + ".tmp.onnx")
    try:
        with writing(path):
            torch.onnx.export(program, example, str(tmp), dynamo=True, verbose=False)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
