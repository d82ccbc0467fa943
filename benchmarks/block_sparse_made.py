"""Would a MADE layer be faster computed in blocks that skip its masked weights?

With hidden units sorted by degree, a MADE mask is block lower-triangular: split the
output units into G row blocks and block g needs only the inputs up to its highest
degree, which skips about (G - 1) / 2G of the multiplications. This times one hidden
layer (batch 512, 128 -> 128 units, degrees 1..7 as in a D = 8 MADE) as one dense addmm
against G block addmms writing into one output, row-major (N, units) and unit-major
(units, N), medians of 7 rounds in one process. The answer decides whether MaskedLinear
should use blocks; see benchmarks/README.md.

    python benchmarks/block_sparse_made.py [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from report import save

N, H, DEGREES = 512, 128, 7


def blocks(mask: torch.Tensor, count: int) -> list[tuple[int, int, int]]:
    """(first row, end row, inputs needed) of `count` equal row blocks."""
    needed = [int(row.nonzero().max()) + 1 for row in mask]
    size = H // count
    ends = [(g + 1) * size if g < count - 1 else H for g in range(count)]
    return [(g * size, end, needed[end - 1]) for g, end in enumerate(ends)]


def per_call_us(fn: Callable[[], object], seconds: float = 0.2) -> float:
    fn()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return 1e6 * (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    degrees = (torch.arange(H) % DEGREES + 1).sort().values
    mask = (degrees[:, None] >= degrees[None, :]).float()
    w = torch.randn(H, H, generator=g) * mask
    b = torch.randn(H, generator=g)
    x = torch.randn(N, H, generator=g)
    x_t = x.T.contiguous()

    def row_major(parts: list[tuple[int, int, int]]) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            y = x.new_empty(N, H)
            for lo, hi, e in parts:
                torch.addmm(b[lo:hi], x[:, :e], w[lo:hi, :e].T, out=y[:, lo:hi])
            return y

        return run

    def unit_major(parts: list[tuple[int, int, int]]) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            y = x.new_empty(H, N)
            for lo, hi, e in parts:
                torch.addmm(b[lo:hi, None], w[lo:hi, :e], x_t[:e], out=y[lo:hi])
            return y

        return run

    dense = torch.addmm(b, x, w.T)
    variants: dict[str, Callable[[], object]] = {"dense": lambda: torch.addmm(b, x, w.T)}
    flops = {"dense": 1.0}
    for count in (2, 3, 4, 8):
        parts = blocks(mask, count)
        flops[f"{count} blocks"] = sum((hi - lo) * e for lo, hi, e in parts) / (H * H)
        for name, make in (("row-major", row_major), ("unit-major", unit_major)):
            run = make(parts)
            got = run() if name == "row-major" else run().T
            torch.testing.assert_close(got, dense, rtol=1e-4, atol=1e-4)
            variants[f"{count} blocks, {name}"] = run
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            times[name].append(per_call_us(run))
    rows, cells = [], []
    for name, ts in times.items():
        share = flops[name.split(",")[0]]
        median = statistics.median(ts)
        rows.append({"variant": name, "multiplications": share, "median_us": median})
        cells.append([name, f"{share:.2f}", f"{median:.0f}", f"{min(ts):.0f}-{max(ts):.0f}"])
        print(" | ".join(cells[-1]))
    header = ["variant", "multiplications (dense = 1)", "median us", "range us"]
    save("block_sparse_made", {"rounds": args.rounds, "batch": N, "units": H}, rows, header, cells)


if __name__ == "__main__":
    main()
