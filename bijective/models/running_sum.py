"""NADE's hidden layers as one autograd node that never holds the (N, D, H) tensor of
hidden pre-activations (Larochelle & Murray 2011, the O(DH) running sum):

    a_k = a_0 + sum_{j<k} x_j w_j,   out_k = sigma(a_k) v_k,    k = 1..D in the ordering

x (N, D), w (D, H), a_0 (N, H), v (D, H, K) -> out (N, D, K). Both passes walk the
variables in chunks of B. Inside a chunk the running sum is one matrix product, the
carry a_s plus the strictly lower-triangular spread of x over the chunk times w,

    a[k, n] = a_s[n] + sum_{s <= j < k} x[n, j] w_j      (a batched GEMM, (B, N, H))

and the backward pass recomputes each chunk's sigmoid from the carry saved at its start
(N H numbers per chunk) instead of keeping it, accumulating, from the last chunk back,

    dL/da_k = (dL/dout_k v_k^T) sigma'(a_k),   R = sum_{k >= e} dL/da_k   (later chunks)
    dL/dw_j = sum_n x[n, j] (sum_{j < k < e} dL/da_k[n] + R[n]),   dL/da_0 = sum_k dL/da_k.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

CHUNK = 16  # variables per chunk: B


def nade_outputs(x: Tensor, w: Tensor, a0: Tensor, v: Tensor, chunk: int = CHUNK) -> Tensor:
    """sigma(a_k) v_k for every k, a_k = a_0 + sum_{j<k} x_j w_j: (N, D, K), exact."""
    return RunningSum.apply(x, w, a0, v, chunk)


class _Chunks:
    """The chunks of D variables and the work space they share, allocated once: spread
    (B, N, B), hidden (B, N, H), and the strictly lower-triangular (B, B) mask."""

    def __init__(self, x: Tensor, hidden: int, chunk: int) -> None:
        (n, d), self.chunk = x.shape, chunk
        self.starts = range(0, d, chunk)
        self.lower = torch.ones(chunk, chunk, dtype=x.dtype, device=x.device).tril(-1)
        self.spread = x.new_empty(chunk, n, chunk)
        self.h = x.new_empty(chunk, n, hidden)

    def hidden(self, x: Tensor, w: Tensor, carry: Tensor, start: int) -> tuple[Tensor, Tensor]:
        """(spread, sigma(a)) of the chunk at `start`: spread [k, n, j] = x[n, s + j] if
        j < k else 0 (B, N, B), a = carry + spread w_chunk (B, N, H)."""
        b = len(w[start : start + self.chunk])
        spread, h = self.spread[:b, :, :b], self.h[:b]
        torch.mul(x[None, :, start : start + b], self.lower[:b, None, :b], out=spread)
        torch.mm(spread.view(-1, b), w[start : start + b], out=h.view(-1, h.shape[-1]))
        return spread, h.add_(carry).sigmoid_()


class RunningSum(torch.autograd.Function):
    """The node of `nade_outputs` (see the module's docstring for the passes)."""

    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Tensor, w: Tensor, a0: Tensor, v: Tensor, chunk: int
    ) -> Tensor:  # noqa: ANN205
        n, d = x.shape
        chunks, out = _Chunks(x, w.shape[1], chunk), x.new_empty(d, n, v.shape[-1])
        carries = x.new_empty(len(chunks.starts), n, w.shape[1])
        carry = a0
        for index, start in enumerate(chunks.starts):
            part = slice(start, start + chunk)
            carries[index] = carry
            _, h = chunks.hidden(x, w, carry, start)
            torch.bmm(h, v[part], out=out[part])
            carry = torch.addmm(carry, x[:, part], w[part])
        ctx.save_for_backward(x, w, v, carries)
        ctx.chunk = chunk
        return out.permute(1, 0, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple:  # noqa: ANN205
        x, w, v, carries = ctx.saved_tensors
        chunks, n = _Chunks(x, w.shape[1], ctx.chunk), x.shape[0]
        grad = grad.permute(1, 0, 2)  # (D, N, K)
        gx = torch.zeros_like(x) if ctx.needs_input_grad[0] else None
        gw, gv = torch.empty_like(w), torch.empty_like(v)
        ga = x.new_empty(chunks.h.shape)
        later = torch.zeros_like(carries[0])  # R: the sum of dL/da_k over later chunks
        for index in reversed(range(len(chunks.starts))):
            start = chunks.starts[index]
            part = slice(start, start + ctx.chunk)
            spread, h = chunks.hidden(x, w, carries[index], start)
            b, g = len(h), grad[part]  # (B, N, K)
            gv[part] = torch.bmm(g.transpose(1, 2), h).transpose(1, 2)
            # dL/da = (g v^T) sigma (1 - sigma), in place
            gab = torch.bmm(g, v[part].transpose(1, 2), out=ga[:b])
            torch.ops.aten.sigmoid_backward(gab, h, grad_input=gab)
            # dL/dw_j: the chunk's own a_k (k > j) through the spread, the later ones via R.
            flat = gab.view(-1, gab.shape[-1])
            gw[part] = torch.addmm(x[:, part].T @ later, spread.reshape(-1, b).T, flat)
            if gx is not None:
                inside = (flat @ w[part].T).view(b, n, b) * chunks.lower[:b, None, :b]
                gx[:, part] = inside.sum(0) + later @ w[part].T
            later += gab.sum(0)
        return gx, gw, later, gv, None
