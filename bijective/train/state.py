"""Run state: the names of a run directory's files, the loop's counters, and the
checkpoint of everything a resumed run needs (weights, optimizer, RNG states, progress)."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    save_checkpoint,
    split_prefix,
)

CONFIG, RESULTS = "config.yaml", "results.json"
CHECKPOINT, BEST, METRICS_CSV = "checkpoint", "best.safetensors", "metrics.csv"


@dataclass
class Progress:
    """The loop's counters, saved with every checkpoint."""

    step: int = 0
    best: float = math.inf
    best_step: int = 0
    waited: int = 0  # evaluations since the best one
    skipped: int = 0  # steps whose loss or gradient was not finite
    in_a_row: int = 0  # consecutive skipped steps
    stopped_early: bool = False
    seconds: float = 0.0
    threads: int = 0  # CPU threads the run trains with (0: not chosen yet)
    compile_decided: bool = False  # train.compile's choice is made (and kept on resume)
    compiled: bool = False  # the loss runs through torch.compile
    eval_compile_decided: bool = False  # the same, for the evaluation
    eval_compiled: bool = False


class Checkpoints:
    """When the loop writes its checkpoint: every `every` steps, once `minutes` have passed
    since the last one (so a kill -9 loses at most that much work; 0 turns it off), and at
    the final step."""

    def __init__(self, every: int, minutes: float) -> None:
        self.every, self.seconds = every, minutes * 60
        self.last = time.monotonic()

    def due(self, step: int, final: bool) -> bool:
        late = self.seconds > 0 and time.monotonic() - self.last >= self.seconds
        if final or late or step % self.every == 0:
            self.last = time.monotonic()
            return True
        return False


def _rng_tensors(batches: torch.Generator) -> dict[str, Tensor]:
    rng = {"rng.torch": torch.get_rng_state(), "rng.batches": batches.get_state()}
    if torch.cuda.is_available():
        rng |= {f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
    return rng


def _restore_rng(tensors: dict[str, Tensor], batches: torch.Generator) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    batches.set_state(tensors["rng.batches"])
    cuda = split_prefix(tensors, "rng.cuda")
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([cuda[str(i)] for i in range(len(cuda))])


def save_state(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: torch.Generator,
    progress: Progress,
) -> None:
    moments, rest = optimizer_to_flat(optimizer)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors |= {f"optimizer.{k}": v for k, v in moments.items()} | _rng_tensors(batches)
    save_checkpoint(
        run_dir / CHECKPOINT, tensors, {"progress": asdict(progress), "optimizer": rest}
    )


def restore_state(
    run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, batches: torch.Generator
) -> Progress:
    tensors, state = load_checkpoint(run_dir / CHECKPOINT)
    load_model_weights(model, split_prefix(tensors, "model"), str(run_dir / CHECKPOINT))
    try:
        progress = Progress(**state["progress"])
        optimizer_from_flat(optimizer, split_prefix(tensors, "optimizer"), state["optimizer"])
        _restore_rng(tensors, batches)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as error:
        raise CheckpointError(
            f"{run_dir / CHECKPOINT}: the saved state is not what this version writes "
            f"({type(error).__name__}: {error}); the checkpoint is corrupt"
        ) from None
    return progress


def _upgrade(weights: dict[str, Tensor], expected: dict[str, Tensor]) -> dict[str, Tensor]:
    """Weights saved before discrete data went through DequantizedFlow (a Flow's keys,
    now under `flow.`) renamed to the current layout; other weights unchanged."""
    if all(k.startswith("flow.") for k in expected) and not any(
        k.startswith("flow.") for k in weights
    ):
        return {f"flow.{k}": v for k, v in weights.items()}
    return weights


def load_model_weights(model: nn.Module, weights: dict[str, Tensor], source: str) -> None:
    """Loads weights, or raises CheckpointError saying which keys or shapes disagree."""
    expected = model.state_dict()
    weights = _upgrade(weights, expected)
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        if missing or unexpected:
            detail = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        else:
            key = wrong[0]
            shapes = tuple(weights[key].shape), tuple(expected[key].shape)
            detail = f"{key} has shape {shapes[0]}, the model {shapes[1]}"
        raise CheckpointError(f"{source}: the weights do not fit the configured model ({detail})")
    model.load_state_dict(weights)
