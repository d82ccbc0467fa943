"""Training objectives and the likelihood figures reported for them.

Forward KL (maximum likelihood) fits a model to data: nll. Reverse KL fits a flow q to an
unnormalized target p~ = Z p: reverse_kl, with reparameterised samples. The evidence
bounds of latent-variable models take log-weights log w = log p(x, z) - log q(z | x) of
K samples z ~ q(z | x) (dimension 0): elbo and iwae. bits_per_dim turns a discrete
model's NLL per example into bits per dimension.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor, nn

from .modes import evaluating


class Unnormalized(Protocol):
    """A target: log p~(z), and log Z when known (see bijective.targets)."""

    log_normalizer: float

    def __call__(self, z: Tensor) -> Tensor: ...


def nll(model: nn.Module, x: Tensor, context: Tensor | None = None) -> Tensor:
    """Forward KL up to a constant: the mean negative log-likelihood -mean log p(x), in nats,
    of any model with `log_prob(x, context)`."""
    return -model.log_prob(x, context).mean()


def training_loss(model: nn.Module, x: Tensor, context: Tensor | None = None) -> Tensor:
    """What fitting a model to data minimises: its own `training_loss(x, context)` when it
    declares one (flow matching's regression), else the NLL."""
    own = getattr(model, "training_loss", None)
    return own(x, context) if own is not None else nll(model, x, context)


def penalty(model: nn.Module) -> Tensor | float:
    """The regularisers the model's last training pass left (`penalty` of a module, e.g.
    FFJORD's kinetic and Jacobian terms), summed and cleared: added to a training loss."""
    total: Tensor | float = 0.0
    for module in model.modules():
        term = getattr(module, "penalty", None)
        if isinstance(term, Tensor):
            total = total + term
            module.penalty = None
    return total


@torch.no_grad()
def mean_nll(
    model: nn.Module, x: Tensor, context: Tensor | None = None, batch: int = 4096
) -> float:
    """The mean NLL of x in eval mode, in chunks of `batch` rows (the mode is restored)."""
    total = 0.0
    with evaluating(model):
        for i in range(0, len(x), batch):
            c = None if context is None else context[i : i + batch]
            total -= float(model.log_prob(x[i : i + batch], c).double().sum())
    return total / len(x)


def reverse_kl(
    flow: nn.Module, target: Unnormalized, n: int, context: Tensor | None = None, beta: float = 1.0
) -> Tensor:
    """E_q[log q(z) - beta log p~(z)] by n reparameterised samples z ~ q (Rezende & Mohamed
    2015, eq. 20; beta < 1 anneals the target). At beta = 1 it is KL(q || p) - log Z, so
    minimising it fits q to p without knowing Z."""
    z, log_q = flow.sample_and_log_prob((n,), context)
    return (log_q - beta * target(z)).mean()


@torch.no_grad()
def kl_divergence(
    flow: nn.Module, target: Unnormalized, n: int = 100_000, batch: int = 10_000
) -> tuple[float, float]:
    """KL(q || p) = E_q[log q - log p~] + log Z by n samples (float64 sums), and its Monte
    Carlo standard error; exact up to that error when the target knows log Z."""
    total, squares = 0.0, 0.0
    with evaluating(flow):
        for start in range(0, n, batch):
            z, log_q = flow.sample_and_log_prob((min(batch, n - start),))
            d = (log_q - target(z)).double()
            total, squares = total + float(d.sum()), squares + float((d * d).sum())
    mean = total / n
    stderr = math.sqrt(max(squares / n - mean * mean, 0.0) / n)
    return mean + target.log_normalizer, stderr


def elbo(log_joint: Tensor, log_q: Tensor) -> Tensor:
    """The evidence lower bound E_q[log p(x, z) - log q(z | x)] <= log p(x), averaged over
    the K samples in dimension 0: (K, *batch) -> (*batch)."""
    return (log_joint - log_q).mean(0)


def iwae(log_joint: Tensor, log_q: Tensor) -> Tensor:
    """The importance-weighted bound log (1/K) sum_k p(x, z_k) / q(z_k | x) (Burda et al.
    2016), over the K samples in dimension 0: (K, *batch) -> (*batch). It is >= the ELBO,
    grows with K, and tends to log p(x): with large K, the estimate of log p(x)."""
    k = log_joint.shape[0]
    return torch.logsumexp(log_joint - log_q, 0) - math.log(k)


def bits_per_dim(nll: float | Tensor, dims: int) -> float | Tensor:
    """-log P(x) / (D ln 2): the NLL in nats of one example of D discrete dimensions
    (its integer values, not a dequantized density) in bits per dimension."""
    return nll / (dims * math.log(2))
