"""Data held in memory (an array, a tensor, a pair (x, labels), a bijective Dataset, a
torch Dataset) written as an .npz that bijective.data.files.read_file reads back: how
`bj.train.train(data=...)` hands Python objects to a run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .dataset import Dataset
from .files import SPLITS


def write_arrays(data: Any, path: Path) -> None:
    """In-memory data as an .npz that `read_file` reads back: an array or tensor (N, ...),
    a pair (x, labels), a bijective Dataset (its fixed splits, as they are), or a torch
    Dataset whose items are x or (x, label)."""
    if isinstance(data, Dataset):
        arrays = {f"x_{s}": getattr(data, s).x.numpy() for s in SPLITS}
        if data.classes:
            arrays |= {f"labels_{s}": getattr(data, s).labels.numpy() for s in SPLITS}
    else:
        x, labels = _in_memory(data)
        arrays = {"x": x} if labels is None else {"x": x, "labels": labels}
    np.savez(path, **arrays)


def _numpy(value: Any, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"data=: expected {what} of numbers; got dtype {array.dtype}")
    return array


def _in_memory(data: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, labels) from an array, a tensor, a pair of them or a torch Dataset."""
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.Tensor):
        items = [data[i] for i in range(len(data))]  # type: ignore[arg-type]
        if not items:
            raise ValueError("data=: the Dataset is empty")
        if isinstance(items[0], tuple | list):
            x = np.stack([_numpy(item[0], "items") for item in items])
            return x, np.array([int(item[1]) for item in items])
        return np.stack([_numpy(item, "items") for item in items]), None
    if isinstance(data, tuple) and len(data) == 2:
        return _numpy(data[0], "x"), _numpy(data[1], "labels")
    if isinstance(data, np.ndarray | torch.Tensor | list):
        return _numpy(data, "an array"), None
    raise TypeError(
        "data=: expected a NumPy array, a tensor, a pair (x, labels), a bijective Dataset or "
        f"a torch Dataset; got {type(data).__name__}"
    )
