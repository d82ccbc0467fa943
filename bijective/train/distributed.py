"""Data-parallel training across processes, as launched by torchrun.

`torchrun --nproc_per_node=N -m bijective train CONFIG` starts N processes with RANK,
WORLD_SIZE, LOCAL_RANK and a rendezvous in their environment; `join` then sets up the
process group (nccl on CUDA, gloo on CPU). Every process draws the same global batch of
`train.batch` rows from the same seeded generator and keeps its own contiguous shard of
batch / N rows. The loss goes through PyTorch's DistributedDataParallel (`data_parallel`),
whose bucketed all-reduce averages the gradients while backward still runs, so each
optimizer step equals the single-process step on the whole batch, up to the order of
floating-point sums. Data-dependent initialisation (ActNorm) is done by the trainer
(`initialise`): before the first step every process runs the model once on the whole
first global batch, which every process draws alike, so all initialise exactly as one
process would, with no communication and nothing of it in the transforms. Whether a step
is skipped (a non-finite loss or gradient anywhere) is decided on the averaged values, so
every process agrees. Only rank 0 writes (checkpoints, metrics, best weights, results, plots);
every process validates (the same weights give the same number, so early stopping
agrees without communication) and resumes from the same checkpoint.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ..transforms import ActNorm
from .config import ConfigError, TrainConfig

Loss = Callable[[nn.Module, Any], Tensor]
Objective = Callable[[Loss, Any], Tensor]


@dataclass(frozen=True)
class Group:
    """This process's place in the run: rank r of `world` processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def writer(self) -> bool:
        """Rank 0 alone writes the run directory."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


SINGLE = Group()


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher) as one of
    several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def process_place() -> tuple[int, int]:
    """(rank, world) of this process: torchrun's environment, else (0, 1)."""
    if not launched():
        return 0, 1
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


def join(config: TrainConfig, timeout: float = 300.0) -> Group:
    """This process's Group; with torchrun's environment, the process group is set up
    (once), and the global batch is checked to divide into the processes. `timeout`
    (seconds) bounds how long a collective waits for a process that died."""
    if not launched():
        return SINGLE
    world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if config.batch % world:
        raise ConfigError(
            f"train.batch: {config.batch} rows do not divide into {world} processes; "
            f"use a multiple of {world} (each process takes batch / {world} rows)"
        )
    if not dist.is_initialized():
        cuda = config.torch_device().type == "cuda"
        if cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(
            "nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout)
        )
    return Group(rank, world, local_rank)


class Local(tuple):
    """A batch already holding only this process's rows (a streamed split reads its own
    slice of each batch): `shard` passes it on whole."""


def shard(batch: Any, group: Group) -> Any:
    """This process's rows of a batch: each tensor's contiguous slice r of N along the
    first dimension (tuples and lists shard element-wise; anything else, e.g. a
    variational step's beta, is the same on every process; a Local batch as it is)."""
    if isinstance(batch, Local):
        return tuple(batch)
    if group.world == 1:
        return batch
    if isinstance(batch, Tensor):
        size = len(batch) // group.world
        return batch[group.rank * size : (group.rank + 1) * size]
    if isinstance(batch, tuple | list):
        return type(batch)(shard(part, group) for part in batch)
    return batch


def average(value: Tensor, group: Group) -> Tensor:
    """The mean of a tensor over the processes."""
    if group.world == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / group.world


def agree(flag: bool, group: Group) -> bool:
    """Rank 0's answer, on every process (a decision taken from timings)."""
    if group.world == 1:
        return flag
    value = torch.tensor([float(flag)])
    dist.broadcast(value, 0)
    return bool(value.item())


class _Step(nn.Module):
    """A model's loss on a batch as a module's forward: DistributedDataParallel prepares
    its gradient hooks in forward, so the loss (a log_prob, an ELBO: not the model's
    forward) must run inside one."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, loss: Loss, batch: Any) -> Tensor:
        return loss(self.model, batch)


def data_parallel(model: nn.Module, group: Group) -> Objective:
    """(loss, batch) -> loss(model, batch); with several processes, through
    DistributedDataParallel, so backward leaves every gradient averaged over the
    processes. Buffers are not synchronised per step (each process keeps its own, as one
    process would); a parameter no process uses keeps no gradient."""
    if group.world == 1:
        return lambda loss, batch: loss(model, batch)
    cuda = next(model.parameters()).device.type == "cuda"
    return DistributedDataParallel(
        _Step(model),
        device_ids=[group.local_rank] if cuda else None,
        forward_sync_buffers=False,
        find_unused_parameters=True,  # e.g. a context layer a batch does not reach
    )


def initialise(model: nn.Module, loss: Loss, first: Callable[[], Any], group: Group) -> None:
    """Data-dependent initialisation on the whole first global batch, `first()` (every
    process draws it alike, before `shard`): one forward pass of the loss without
    gradients, under a forked random generator, so the first step draws what it would
    have. One process initialises within its first step; with several this runs before,
    so each initialises as one process would."""
    pending = any(isinstance(m, ActNorm) and not m.ready for m in model.modules())
    if group.world == 1 or not pending:
        return
    device = next(model.parameters()).device
    with torch.random.fork_rng([device] if device.type == "cuda" else []), torch.no_grad():
        loss(model, first())


def agreed_signal(signum: int | None, group: Group) -> int:
    """The largest signal number any process has received (0: none), on every process,
    so that all stop at the same step (bijective.train.preemption)."""
    if group.world == 1:
        return signum or 0
    nccl = dist.get_backend() == "nccl"
    value = torch.tensor([signum or 0], device=f"cuda:{group.local_rank}" if nccl else "cpu")
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return int(value.item())


def leave(group: Group) -> None:
    """Tears the process group down at the end of a run."""
    if group.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
