"""Traces and log-determinants of Jacobians from vector-Jacobian products.

For y = g(x) computed with autograd, `vjp(y, x, w)` = w^T dg/dx costs one backward pass, so
anything built from w^T J (a trace estimate, a power series) never forms J. Rows are
independent: x and y (N, *event) of one shape (vectors, or images (N, C, H, W), read as
vectors of D = C H W), and every function returns one value per row (N,).
"""

from __future__ import annotations

import torch
from torch import Tensor


def vjp(y: Tensor, x: Tensor, w: Tensor, graph: bool) -> Tensor:
    """w^T dy/dx, row by row; `graph` keeps it differentiable (create_graph)."""
    (out,) = torch.autograd.grad(y, x, w, create_graph=graph, retain_graph=True)
    return out


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise inner products of (N, *event) tensors: (N,)."""
    return (a * b).flatten(1).sum(1)


def jacobian(y: Tensor, x: Tensor, graph: bool) -> Tensor:
    """The full Jacobian J[n, i, j] = dy_i/dx_j of the flattened events, by D backward
    passes: (N, D, D)."""
    n, d = y.shape[0], y[0].numel()
    eye = torch.eye(d, dtype=y.dtype, device=y.device).reshape(d, *y.shape[1:])
    rows = [vjp(y, x, e.expand_as(y), graph).reshape(n, d) for e in eye]
    return torch.stack(rows, dim=1)


def exact_trace(y: Tensor, x: Tensor, graph: bool) -> Tensor:
    """tr(dy/dx) exactly, by D backward passes (each keeps one diagonal entry)."""
    total = torch.zeros(y.shape[0], dtype=y.dtype, device=y.device)
    for i in range(y[0].numel()):
        e = torch.zeros_like(y).flatten(1)
        e[:, i] = 1
        total = total + vjp(y, x, e.view_as(y), graph).flatten(1)[:, i]
    return total


def rademacher(like: Tensor) -> Tensor:
    """Entries +-1 with probability 1/2: E[e e^T] = I, the Hutchinson noise of least variance
    among i.i.d. choices."""
    return torch.randint(0, 2, like.shape, device=like.device).to(like.dtype) * 2 - 1


def exact_logdet(g: Tensor, x: Tensor, graph: bool) -> Tensor:
    """log|det(I + dg/dx)| from the full Jacobian: D backward passes and one slogdet."""
    j = jacobian(g, x, graph)
    return torch.linalg.slogdet(j + torch.eye(j.shape[-1], dtype=j.dtype, device=j.device))[1]


def series_logdet(g: Tensor, x: Tensor, e: Tensor, terms: int, graph: bool) -> Tensor:
    """The i-ResNet estimate (Behrmann et al. 2019, eq. 8) of log det(I + J), J = dg/dx with
    Lip(g) < 1: the power series sum_{k=1}^n (-1)^{k+1} tr(J^k) / k truncated at n = `terms`,
    each trace by Hutchinson with the noise e. Biased by the truncation (the tail is
    O(Lip(g)^n)); gradients by backpropagating through the n products."""
    w, total = e, 0
    for k in range(1, terms + 1):
        w = vjp(g, x, w, graph)  # e^T J^k
        total = total + (-1) ** (k + 1) / k * dot(w, e)
    return total


def roulette_logdet(
    g: Tensor, x: Tensor, e: Tensor, exact_terms: int, p: float, graph: bool
) -> Tensor:
    """The Residual Flows estimate (Chen et al. 2019, arXiv:1906.02735, eqs. 6 and 8) of
    log det(I + J): unbiased, with the Neumann-series gradient.

    Value: with N ~ Geometric(p) on {0, 1, ...} (P(N >= m) = (1 - p)^m) and n = E + N terms
    (E = `exact_terms` always kept), sum_{k=1}^n (-1)^{k+1} e^T J^k e / (k P(N >= k - E)),
    whose expectation is the full series. Gradient: d log det(I + J) = tr((I + J)^{-1} dJ)
    = sum_{k>=0} (-1)^k tr(J^k dJ), estimated with the same n and weights as
    w^T dJ e, w = sum_{k=1}^n (-1)^{k+1} (e^T J^{k-1}) / P(N >= k - E). The products are
    taken without a graph and only w^T J e is differentiated: memory does not grow with n.
    """
    n = exact_terms + int(torch.distributions.Geometric(probs=p).sample())
    with torch.no_grad():
        u = e  # e^T J^{k-1}
        w = torch.zeros_like(e)
        total = torch.zeros(e.shape[0], dtype=e.dtype, device=e.device)
        for k in range(1, n + 1):
            weight = 1 / (1 - p) ** max(k - exact_terms, 0)
            w = w + (-1) ** (k + 1) * weight * u
            u = vjp(g, x, u, graph=False)
            total = total + (-1) ** (k + 1) * weight / k * dot(u, e)
    if not graph:
        return total
    surrogate = dot(vjp(g, x, w, graph=True), e)  # its gradient is the Neumann estimate
    return total + surrogate - surrogate.detach()
