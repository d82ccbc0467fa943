"""Rows of a file larger than memory: read in chunks, never held whole.

`RowFile` reads rows [start, stop) of a 2-D .npy file (by offset, with positional reads:
no memory map, so nothing of the file stays resident) or of a .parquet file (row group by
row group, the last one kept). `Streamed` is a split of such a file: a range of its rows,
standardised chunk by chunk with statistics from one streaming pass (`standardised`).

Training batches (`StepBatches`, read by a torch DataLoader with workers): the rows of
step s are a function of (seed, s) alone, so a resumed run reads the batches the
uninterrupted run would have read. Each epoch visits the split's chunks in a seeded
order; a chunk of n rows gives n // B batches of a seeded permutation of its rows (the
remainder rows wait for the next epoch's permutation); a process of a data-parallel run
reads only its own slice of each batch.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..optional import require

CHUNK = 1 << 16  # rows read at a time


class RowFile:
    """The rows (N, D) of a .npy or .parquet file, read as float32 by range."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        where = f"data file {self.path}"
        if self.path.suffix == ".npy":
            with open(self.path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read_header = {
                    (1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0,
                }.get(version)
                if read_header is None:
                    raise ValueError(f"{where}: .npy format version {version} is not read here")
                shape, fortran, dtype = read_header(f)
                self.offset = f.tell()
            if len(shape) != 2 or fortran or dtype.kind not in "biuf":
                raise ValueError(
                    f"{where}: streaming reads a C-ordered 2-D array of numbers; got shape "
                    f"{shape}, dtype {dtype}{', Fortran order' if fortran else ''}"
                )
            self.dtype, (self.rows, self.features) = dtype, shape
            self.groups = None
        elif self.path.suffix == ".parquet":
            parquet = require("pyarrow.parquet", "pyarrow", "reading .parquet files")
            self.file = parquet.ParquetFile(self.path)
            sizes = [
                self.file.metadata.row_group(i).num_rows for i in range(self.file.num_row_groups)
            ]
            self.groups = np.concatenate([[0], np.cumsum(sizes)]).tolist()
            self.rows, self.features = self.file.metadata.num_rows, self.file.metadata.num_columns
            self._group: tuple[int, np.ndarray] | None = None
        else:
            raise ValueError(f"{where}: streaming reads .npy or .parquet files")
        if self.rows == 0:
            raise ValueError(f"{where}: no rows")

    def __getstate__(self) -> dict:  # to DataLoader workers: reopened there
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as float32 (stop - start, D)."""
        if self.groups is None:
            count = (stop - start) * self.features
            offset = self.offset + start * self.features * self.dtype.itemsize
            values = np.fromfile(self.path, dtype=self.dtype, count=count, offset=offset)
            return values.reshape(stop - start, self.features).astype(np.float32, copy=False)
        parts, row = [], start
        while row < stop:
            group = bisect.bisect_right(self.groups, row) - 1
            values = self._row_group(group)
            first, last = (
                row - self.groups[group],
                min(stop, self.groups[group + 1]) - self.groups[group],
            )
            parts.append(values[first:last])
            row = self.groups[group] + last
        return np.concatenate(parts) if parts else np.zeros((0, self.features), np.float32)

    def _row_group(self, group: int) -> np.ndarray:
        if self._group is None or self._group[0] != group:
            table = self.file.read_row_group(group)
            columns = [
                table.column(i).to_numpy(zero_copy_only=False) for i in range(table.num_columns)
            ]
            if any(c.dtype.kind not in "biuf" for c in columns):
                raise ValueError(f"data file {self.path}: streaming reads numeric columns only")
            self._group = (group, np.stack(columns, 1).astype(np.float32))
        return self._group[1]


@dataclass(frozen=True)
class Streamed:
    """Rows [start, stop) of a RowFile, as a split: x -> (x - shift) / scale per chunk."""

    file: RowFile
    start: int
    stop: int
    shift: Tensor | None = None
    scale: Tensor | None = None
    workers: int = 0  # DataLoader processes reading training batches (0: this one)
    labels: None = None

    @property
    def features(self) -> int:
        return self.file.features

    def __len__(self) -> int:
        return self.stop - self.start

    def read(self, start: int, stop: int) -> Tensor:
        """Rows [start, stop) of the split, standardised."""
        x = torch.from_numpy(self.file.read(self.start + start, self.start + stop))
        if self.shift is not None:
            x = (x - self.shift) / self.scale
        return x

    def chunks(self, size: int = CHUNK) -> Iterator[Tensor]:
        """The split's rows, `size` at a time."""
        for start in range(0, len(self), size):
            yield self.read(start, min(start + size, len(self)))


def standardised(
    splits: tuple[Streamed, ...], where: str, apply: bool = True
) -> tuple[Streamed, ...]:
    """The splits with the first's mean and std (float64, one pass, chunks combined by
    Chan et al.'s update; with `apply` false, only checked); NaN or infinite values
    anywhere are an error naming the split."""
    count, mean, m2 = 0, None, None
    for name, part in zip(("train", "val", "test"), splits, strict=True):
        for x in part.chunks():
            if not x.isfinite().all():
                raise ValueError(f"{where}: the {name} split contains NaN or infinite values")
            if name != "train":
                continue
            x = x.double()
            n, chunk_mean = len(x), x.mean(0)
            chunk_m2 = ((x - chunk_mean) ** 2).sum(0)
            if mean is None:
                count, mean, m2 = n, chunk_mean, chunk_m2
                continue
            delta, total = chunk_mean - mean, count + n
            mean = mean + delta * n / total
            m2 = m2 + chunk_m2 + delta**2 * count * n / total
            count = total
    std = (m2 / max(count - 1, 1)).sqrt()
    std = torch.where(std > 0, std, torch.ones_like(std))
    if not apply:
        return splits
    shift, scale = mean.float(), std.float()
    return tuple(replace(p, shift=shift, scale=scale) for p in splits)


def split_file(path: str | Path, val_fraction: float, test_fraction: float) -> tuple[Streamed, ...]:
    """Train, validation and test splits of a file's rows by position: the last
    `test_fraction` is test, the `val_fraction` of the rest before it validation."""
    file = RowFile(path)
    n_test = round(test_fraction * file.rows)
    n_val = round(val_fraction * (file.rows - n_test))
    n_train = file.rows - n_test - n_val
    if min(n_train, n_val, n_test) < 1:
        raise ValueError(f"data file {path}: {file.rows} rows are too few to split")
    cuts = (0, n_train, n_train + n_val, file.rows)
    return tuple(Streamed(file, a, b) for a, b in zip(cuts, cuts[1:], strict=False))


class StepBatches(torch.utils.data.Dataset):
    """Index s (a training step, from 1) -> this process's rows of step s's batch (see the
    module docstring); a worker keeps the last chunk it read."""

    def __init__(
        self, split: Streamed, batch: int, seed: int, rank: int = 0, world: int = 1
    ) -> None:
        self.split, self.batch, self.seed = split, batch, seed
        self.rank, self.world = rank, world
        starts = list(range(0, len(split), CHUNK))
        self.chunks = [(a, min(a + CHUNK, len(split))) for a in starts]
        self.per_chunk = [(b - a) // batch for a, b in self.chunks]
        self.per_epoch = sum(self.per_chunk)
        if self.per_epoch == 0:
            raise ValueError(f"train.batch {batch} exceeds the {len(split)} training rows")
        self._cached: tuple[tuple[int, int], Tensor] | None = None
        self._order: tuple[int, list[int], np.ndarray] | None = None

    def __len__(self) -> int:
        return 2**62  # steps are unbounded; the sampler says which to read

    def _generator(self, *keys: int) -> torch.Generator:
        return torch.Generator().manual_seed(hash((self.seed, *keys)) % 2**62)

    def _epoch(self, epoch: int) -> tuple[list[int], np.ndarray]:
        """The epoch's chunk order and the batches its chunks end at (kept per epoch)."""
        if self._order is None or self._order[0] != epoch:
            order = torch.randperm(len(self.chunks), generator=self._generator(epoch)).tolist()
            self._order = (epoch, order, np.cumsum([self.per_chunk[c] for c in order]))
        return self._order[1], self._order[2]

    def __getitem__(self, step: int) -> Tensor:
        epoch, index = divmod(step - 1, self.per_epoch)
        order, ends = self._epoch(epoch)
        slot = int(np.searchsorted(ends, index, side="right"))
        chunk = order[slot]
        k = index - (int(ends[slot - 1]) if slot else 0)
        if self._cached is None or self._cached[0] != (epoch, chunk):
            a, b = self.chunks[chunk]
            rows = self.split.read(a, b)
            permuted = rows[torch.randperm(len(rows), generator=self._generator(epoch, chunk))]
            self._cached = ((epoch, chunk), permuted)
        batch = self._cached[1][k * self.batch : (k + 1) * self.batch]
        share = self.batch // self.world  # as bijective.train.distributed.shard cuts
        return batch[self.rank * share : (self.rank + 1) * share]


def step_loader(
    split: Streamed,
    batch: int,
    seed: int,
    first: int,
    last: int,
    workers: int,
    rank: int,
    world: int,
) -> torch.utils.data.DataLoader:
    """The batches of steps first..last in order, read by `workers` processes."""
    return torch.utils.data.DataLoader(
        StepBatches(split, batch, seed, rank, world),
        batch_size=None,
        sampler=range(first, last + 1),
        num_workers=workers,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
