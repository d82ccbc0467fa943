"""The training loop: minimise a loss over random minibatches, validate, keep the best
weights, checkpoint, and resume exactly.

It trains any module with any loss of a batch (a flow's NLL, a VAE's negative ELBO, a
reverse KL): `draw(generator, step)` makes the batch of a step (1-based), `loss(model,
batch)` scores it, `validate(model)` returns the number early stopping minimises. All
randomness comes from the seeded batch generator and torch's global generator (dropout,
a flow's own samples), and both are checkpointed, so a resumed run repeats the
uninterrupted run's losses exactly.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..nn.precision import lower_precision, note_emulation
from .checkpoint import CheckpointError, load_weights, save_weights
from .compiled import Decisions
from .config import TrainConfig
from .distributed import (
    SINGLE,
    Group,
    Objective,
    agreed_signal,
    average,
    data_parallel,
    initialise,
    shard,
)
from .faults import out_of_memory
from .metrics import NLL, Metric, MetricsLog
from .preemption import Stopped, StopSignals
from .state import (
    BEST,
    METRICS_CSV,
    Checkpoints,
    Progress,
    load_model_weights,
    restore_state,
    save_state,
)
from .threads import auto_threads, using_threads

Batch = Any


class Diverged(RuntimeError):
    """Too many non-finite losses in a row; the saved checkpoint and best weights are kept."""


def learning_rate(config: TrainConfig, step: int) -> float:
    """The rate at `step` (1-based): linear warm-up to lr over `warmup` steps, then
    constant, or cosine-annealed to 0 at `steps`."""
    if step <= config.warmup:
        return config.lr * step / config.warmup
    if config.schedule == "constant":
        return config.lr
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW; the fused implementation (one kernel for all parameters, the same
    update) where torch has one for the parameters' device and dtype."""
    kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    options = {"lr": config.lr, "weight_decay": config.weight_decay}
    try:
        return kind(model.parameters(), fused=True, **options)
    except RuntimeError:
        return kind(model.parameters(), **options)


def fit(
    model: nn.Module,
    loss: Callable[[nn.Module, Batch], Tensor],
    draw: Callable[[torch.Generator, int], Batch],
    validate: Callable[[nn.Module], float],
    config: TrainConfig,
    run_dir: Path,
    resume: bool = False,
    log: Callable[[str], None] = print,
    metric: Metric = NLL,
    group: Group = SINGLE,
    compile_evaluation: Callable[[Callable[[str], None]], None] | None = None,
) -> Progress:
    """Trains `model` in place and leaves it holding the best validated weights, which
    are also in run_dir/best.safetensors. With `resume`, continues from run_dir/checkpoint.
    `metric` names what `validate` returns (its CSV column and label), lower is better.
    `group`: this process's place in a data-parallel run (bijective.train.distributed):
    each process trains on its shard of every batch, and rank 0 alone writes.
    `compile_evaluation(log)`, where given, switches what `validate` runs to torch.compile
    (train.compile; `auto` decides after timing the first validation)."""
    optimizer = make_optimizer(model, config)
    batches = torch.Generator().manual_seed(config.seed)  # the data order, checkpointed
    progress = _start(model, optimizer, batches, config, run_dir, resume, log, metric, group)
    compiling = Decisions(progress, config.compile, group, log, loss, compile_evaluation)
    low = config.low_precision()  # bf16 for the conditioners, or None
    note_emulation(low, config.torch_device(), log)
    objective = data_parallel(model, group)  # (loss, batch) -> loss, gradients averaged
    if progress.step == 0:  # ActNorm: every process from the whole first batch
        initialise(model, loss, lambda: draw(_copy(batches), 1), group)
    resumed_at = progress.step if resume else None
    metrics = (
        MetricsLog(run_dir / METRICS_CSV, resumed_at, metric.key, log)
        if group.writer
        else _NoMetrics()
    )
    bar = tqdm(
        total=config.steps, initial=progress.step, disable=not sys.stderr.isatty(), unit="step"
    )
    started = time.perf_counter() - progress.seconds  # a resumed run's clock goes on
    checkpoints = Checkpoints(config.checkpoint_every, config.checkpoint_minutes)
    try:
        with using_threads(progress.threads), StopSignals() as stop:
            while progress.step < config.steps and not progress.stopped_early:
                progress.step += 1
                lr = learning_rate(config, progress.step)
                for param_group in optimizer.param_groups:
                    param_group["lr"] = lr
                batch = shard(draw(batches, progress.step), group)
                timed = time.perf_counter()
                with lower_precision(low), out_of_memory(_in_step(progress.step, config, run_dir)):
                    value = _update(
                        model, optimizer, objective, compiling.loss, batch, config, group
                    )
                compiling.after_step(time.perf_counter() - timed, config.steps - progress.step)
                _count(value, progress, config, run_dir)  # raises Diverged after max_skipped
                val = None
                if progress.step % config.eval_every == 0 or progress.step == config.steps:
                    timed = time.perf_counter()
                    with out_of_memory(_in_validation(progress.step, run_dir)):
                        val = _evaluate(model, validate, progress, config, run_dir, group.writer)
                    left = (config.steps - progress.step) // config.eval_every + 2  # + val, test
                    compiling.after_validation(time.perf_counter() - timed, left)
                    _report(bar, log, progress.step, value, f"val {metric.label} {val:.4f}")
                progress.seconds = time.perf_counter() - started
                metrics.write(
                    step=progress.step,
                    loss="" if value is None else value,
                    lr=lr,
                    **{metric.key: "" if val is None else val},
                    skipped=progress.skipped,
                    seconds=round(progress.seconds, 3),
                )
                bar.update()
                stopping = agreed_signal(stop.signum, group)  # 0, or the signal all stop for
                final = progress.step == config.steps or progress.stopped_early or stopping
                if checkpoints.due(progress.step, final) and group.writer:
                    save_state(run_dir, model, optimizer, batches, progress)
                if stopping:
                    group.barrier()  # rank 0 has written the checkpoint
                    raise Stopped(progress.step, stopping, run_dir)
    finally:
        bar.close()
        metrics.close()
    group.barrier()  # rank 0 has written the best weights every process loads
    if (run_dir / BEST).exists():
        load_model_weights(model, load_weights(run_dir / BEST)[0], str(run_dir / BEST))
    return progress


def _in_step(step: int, config: TrainConfig, run_dir: Path) -> str:
    return (
        f"in training step {step} (train.batch {config.batch}); lower train.batch and "
        f"resume: {run_dir} keeps its last checkpoint"
    )


def _in_validation(step: int, run_dir: Path) -> str:
    return (
        f"validating at step {step}; lower train.eval_batch and resume: {run_dir} keeps "
        "its last checkpoint"
    )


def _copy(generator: torch.Generator) -> torch.Generator:
    return torch.Generator(generator.device).set_state(generator.get_state())


def _start(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: torch.Generator,
    config: TrainConfig,
    run_dir: Path,
    resume: bool,
    log: Callable[[str], None],
    metric: Metric,
    group: Group,
) -> Progress:
    """A fresh Progress, or the checkpoint's (weights, optimizer and data order restored);
    the thread count is chosen once per run, so a resumed run reduces alike."""
    progress = Progress()
    if resume:
        progress = restore_state(run_dir, model, optimizer, batches)
        best = f"best validation {metric.label} {progress.best:.4f}"
        log(f"resuming at step {progress.step} ({best})")
        if group.writer:
            _check_best(run_dir, progress, log)
    if not progress.threads:
        progress.threads = auto_threads(model) if config.threads == "auto" else config.threads
    return progress


def _count(value: float | None, progress: Progress, config: TrainConfig, run_dir: Path) -> None:
    """Counts a skipped step (a non-finite loss or gradient); max_skipped in a row stop the
    run with Diverged, the checkpoint and best weights kept."""
    if value is not None:
        progress.in_a_row = 0
        return
    progress.skipped += 1
    progress.in_a_row += 1
    if progress.in_a_row >= config.max_skipped:
        raise Diverged(
            f"{progress.in_a_row} non-finite losses in a row at step {progress.step}; "
            f"lower the learning rate or set train.clip. {run_dir} keeps the last "
            "checkpoint and the best weights"
        )


def _report(bar: Any, log: Callable[[str], None], step: int, value: float | None, val: str) -> None:
    """A validation's line: plain when stderr is not a terminal, else on the progress bar."""
    if bar.disable:
        shown = "skipped" if value is None else f"{value:.4f}"
        log(f"step {step}: train loss {shown}, {val}")
    else:
        bar.set_postfix_str(val)


class _NoMetrics:
    """The metrics log of a process that does not write (rank > 0)."""

    def write(self, **row: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _check_best(run_dir: Path, progress: Progress, log: Callable[[str], None]) -> None:
    """A resumed run whose best.safetensors is unreadable or corrupt keeps going from its
    (good) checkpoint: the bad file is set aside as best.safetensors.corrupt and the next
    validation saves the best weights afresh."""
    best = run_dir / BEST
    if not best.exists() and math.isinf(progress.best):
        return
    try:
        load_weights(best)
    except CheckpointError as error:
        if best.exists():
            best.replace(best.with_name(best.name + ".corrupt"))
        log(f"{error}; kept as {best.name}.corrupt, the next validation saves the best weights")
        progress.best, progress.waited = math.inf, 0


def _update(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    loss: Callable[[nn.Module, Batch], Tensor],
    batch: Batch,
    config: TrainConfig,
    group: Group = SINGLE,
) -> float | None:
    """One optimizer step; None (and no change to the weights) when the loss or the
    gradient is not finite (in any process: the decision is taken on averages).
    `objective(loss, batch)` is loss(model, batch), its backward averaging the gradients
    over the processes (bijective.train.distributed.data_parallel)."""
    optimizer.zero_grad(set_to_none=True)
    value = objective(loss, batch)
    mean = average(value, group)
    if not torch.isfinite(mean):
        return None
    value.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), config.clip or math.inf)
    if not torch.isfinite(norm):
        optimizer.zero_grad(set_to_none=True)
        return None
    optimizer.step()
    return float(mean.detach())


def _evaluate(
    model: nn.Module,
    validate: Callable[[nn.Module], float],
    progress: Progress,
    config: TrainConfig,
    run_dir: Path,
    writer: bool = True,
) -> float:
    """Validates; a new best is saved to best.safetensors (by the writing process), and
    `patience` evaluations without one stop training."""
    val = validate(model)
    if val < progress.best:
        progress.best, progress.best_step, progress.waited = val, progress.step, 0
        weights = model.state_dict()
        if writer:
            metadata = {"step": str(progress.step), "validation": repr(val)}
            save_weights(run_dir / BEST, weights, metadata)
    else:
        progress.waited += 1
        progress.stopped_early = config.patience is not None and progress.waited >= config.patience
    return val
