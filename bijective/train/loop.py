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

from ..nn.precision import lower_precision
from .checkpoint import CheckpointError, load_weights, save_weights
from .compiled import Compiled, Probe, worth_compiling
from .config import TrainConfig
from .distributed import SINGLE, Group, agree, average, average_gradients, shard
from .metrics import NLL, Metric, MetricsLog
from .state import BEST, METRICS_CSV, Progress, load_model_weights, restore_state, save_state
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
    label = metric.label
    optimizer = make_optimizer(model, config)
    batches = torch.Generator().manual_seed(config.seed)
    progress = Progress()
    if resume:
        progress = restore_state(run_dir, model, optimizer, batches)
        log(f"resuming at step {progress.step} (best validation {label} {progress.best:.4f})")
        if group.writer:
            _check_best(run_dir, progress, log)
    if not progress.threads:  # chosen once per run, so a resumed run reduces alike
        progress.threads = auto_threads(model) if config.threads == "auto" else config.threads
    if config.compile != "auto":  # true or false: the config decides
        progress.compile_decided, progress.compiled = True, config.compile
        progress.eval_compile_decided, progress.eval_compiled = True, config.compile
    if compile_evaluation is None:  # this kind's evaluation stays eager
        progress.eval_compile_decided, progress.eval_compiled = True, False
    elif progress.eval_compiled:
        compile_evaluation(log)
    step_loss = Compiled(loss, log, "training") if progress.compiled else loss
    low = config.low_precision()
    if low is not None and config.torch_device().type == "cpu" and not cpu_has_bf16():
        log("train.precision bf16: this CPU has no bfloat16 instructions, so it is emulated")
    probe = Probe()
    metrics = (
        MetricsLog(run_dir / METRICS_CSV, progress.step if resume else None, metric.key, log)
        if group.writer
        else _NoMetrics()
    )
    bar = tqdm(
        total=config.steps, initial=progress.step, disable=not sys.stderr.isatty(), unit="step"
    )
    started = time.perf_counter() - progress.seconds
    try:
        with using_threads(progress.threads):
            while progress.step < config.steps and not progress.stopped_early:
                progress.step += 1
                lr = learning_rate(config, progress.step)
                for param_group in optimizer.param_groups:
                    param_group["lr"] = lr
                batch = shard(draw(batches, progress.step), group)
                timed = time.perf_counter()
                with lower_precision(low):
                    value = _update(model, optimizer, step_loss, batch, config, group)
                if not progress.compile_decided:  # auto: time eager steps, then decide
                    per_step = probe.record(time.perf_counter() - timed)
                    if per_step is not None:
                        step_loss = _auto_compile(per_step, progress, config, group, loss, log)
                if value is None:
                    progress.skipped += 1
                    progress.in_a_row += 1
                    if progress.in_a_row >= config.max_skipped:
                        raise Diverged(
                            f"{progress.in_a_row} non-finite losses in a row at step "
                            f"{progress.step}; "
                            f"lower the learning rate or set train.clip. {run_dir} keeps the last "
                            "checkpoint and the best weights"
                        )
                else:
                    progress.in_a_row = 0
                val = None
                if progress.step % config.eval_every == 0 or progress.step == config.steps:
                    timed = time.perf_counter()
                    val = _evaluate(model, validate, progress, config, run_dir, group.writer)
                    if not progress.eval_compile_decided and compile_evaluation is not None:
                        seconds = time.perf_counter() - timed
                        _auto_compile_evaluation(seconds, progress, config, group, log)
                        if progress.eval_compiled:
                            compile_evaluation(log)
                    if bar.disable:  # not a terminal: plain lines
                        shown = "skipped" if value is None else f"{value:.4f}"
                        log(f"step {progress.step}: train loss {shown}, val {label} {val:.4f}")
                    else:
                        bar.set_postfix_str(f"val {label} {val:.4f}")
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
                last = progress.step == config.steps or progress.stopped_early
                if progress.step % config.checkpoint_every == 0 or last:
                    if group.writer:
                        save_state(run_dir, model, optimizer, batches, progress)
    finally:
        bar.close()
        metrics.close()
    group.barrier()  # rank 0 has written the best weights every process loads
    best = run_dir / BEST
    if best.exists():
        load_model_weights(model, load_weights(best)[0], str(best))
    return progress


class _NoMetrics:
    """The metrics log of a process that does not write (rank > 0)."""

    def write(self, **row: Any) -> None:
        pass

    def close(self) -> None:
        pass


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (Linux: avx512_bf16 or AMX flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


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


def _auto_compile(
    per_step: float,
    progress: Progress,
    config: TrainConfig,
    group: Group,
    loss: Callable[[nn.Module, Batch], Tensor],
    log: Callable[[str], None],
) -> Callable[[nn.Module, Batch], Tensor]:
    """train.compile auto's decision from the eager seconds per step (rank 0's, on every
    process); the loss to train on from here."""
    left = per_step * (config.steps - progress.step)
    progress.compiled = agree(worth_compiling(per_step, config.steps - progress.step), group)
    progress.compile_decided = True
    if not progress.compiled:
        return loss
    log(f"train.compile auto: compiling the loss ({left:.0f} s of eager steps left)")
    return Compiled(loss, log, "training")


def _auto_compile_evaluation(
    seconds: float,
    progress: Progress,
    config: TrainConfig,
    group: Group,
    log: Callable[[str], None],
) -> None:
    """train.compile auto's decision for the evaluation, from the first validation's eager
    seconds (rank 0's): the validations left and the final validation and test passes."""
    evaluations = (config.steps - progress.step) // config.eval_every + 2
    progress.eval_compiled = agree(worth_compiling(seconds, evaluations), group)
    progress.eval_compile_decided = True
    if progress.eval_compiled:
        left = seconds * evaluations
        log(f"train.compile auto: compiling the evaluation ({left:.0f} s of eager evaluation left)")


def _update(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: Callable[[nn.Module, Batch], Tensor],
    batch: Batch,
    config: TrainConfig,
    group: Group = SINGLE,
) -> float | None:
    """One optimizer step; None (and no change to the weights) when the loss or the
    gradient is not finite (in any process: the decision is taken on averages)."""
    optimizer.zero_grad(set_to_none=True)
    value = loss(model, batch)
    mean = average(value, group)
    if not torch.isfinite(mean):
        return None
    value.backward()
    average_gradients(model, group)
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
