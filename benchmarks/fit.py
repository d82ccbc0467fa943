"""A minimal maximum-likelihood loop for the quality benchmarks (until bj.train exists):
Adam, minibatches, periodic validation, and the best-validation weights kept."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import torch

import bijective as bj


@torch.no_grad()
def nll(flow: bj.Flow, data: torch.Tensor, batch: int = 4096) -> float:
    """Mean negative log-likelihood in nats, in eval mode."""
    flow.eval()
    total = sum(
        -flow.log_prob(data[i : i + batch]).sum().item() for i in range(0, len(data), batch)
    )
    flow.train()
    return total / len(data)


def fit(
    flow: bj.Flow,
    train: torch.Tensor,
    steps: int,
    batch: int = 512,
    lr: float = 1e-3,
    val: torch.Tensor | None = None,
    every: int = 100,
    patience: int | None = None,
    transform_batch: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
    cosine: bool = False,
) -> dict:
    """Trains `steps` Adam steps on random minibatches of `train` (each passed through
    `transform_batch`, e.g. fresh dequantization noise). With `val`, evaluates every
    `every` steps, keeps the best weights, and stops after `patience` evaluations
    without improvement. `cosine` anneals the learning rate to 0 over `steps`.
    Returns a summary (steps run, best step, seconds)."""
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if cosine else None
    best, best_state, best_step, waited = math.inf, None, 0, 0
    start = time.perf_counter()
    step = 0
    for step in range(1, steps + 1):
        x = transform_batch(train[torch.randint(len(train), (batch,))])
        loss = -flow.log_prob(x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        if val is not None and step % every == 0:
            current = nll(flow, val)
            if current < best:
                best, best_state, best_step, waited = (
                    current,
                    copy.deepcopy(flow.state_dict()),
                    step,
                    0,
                )
            else:
                waited += 1
                if patience is not None and waited >= patience:
                    break
    if best_state is not None:
        flow.load_state_dict(best_state)
    return {
        "steps": step,
        "best_step": best_step or step,
        "seconds": round(time.perf_counter() - start, 1),
    }


def parameters(flow: torch.nn.Module) -> int:
    return sum(p.numel() for p in flow.parameters())
