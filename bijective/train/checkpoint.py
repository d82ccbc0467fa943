"""Checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint is a directory of two files, `tensors.safetensors` (model weights, optimizer
moments, RNG states) and `state.json` (step, counters, the optimizer's hyperparameters).
It is written whole into `NAME.tmp`, then swapped in by renames, so a crash leaves either
the old or the new checkpoint, never half of one, and a write that fails (a full disk)
removes its temporary and leaves the old one (bijective.train.disk); `load` refuses a
checkpoint whose two files do not belong together, or that is truncated or corrupt, with
one clear error.
Every safetensors file (a checkpoint's tensors, best.safetensors) carries the SHA-256 of
its tensors' names, dtypes, shapes and bytes in its metadata, checked on load: bit rot is
an error, never weights that load and give NaN.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import Tensor

from .faults import write_atomically, writing

TENSORS, STATE = "tensors.safetensors", "state.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing, corrupt, or for another model."""


DIGEST = "sha256"  # the metadata key of the tensors' digest


def digest(tensors: dict[str, Tensor]) -> str:
    """SHA-256 of the tensors' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_weights(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> str:
    """One safetensors file written atomically (temp file + rename), with its digest,
    which it returns."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    sha = digest(tensors)
    write_atomically(path, save(tensors, metadata={**metadata, DIGEST: sha}))
    return sha


def load_weights(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file; CheckpointError if unreadable or
    if its tensors do not match the digest saved with them (files written before the
    digest existed load unchecked)."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from None
    if DIGEST in metadata and metadata[DIGEST] != digest(tensors):
        raise CheckpointError(
            f"{path}: corrupt (its tensors do not match the SHA-256 saved with them)"
        )
    return tensors, metadata


def save_checkpoint(directory: Path, tensors: dict[str, Tensor], state: dict[str, Any]) -> None:
    """Writes `tensors` and the JSON-serialisable `state` as one checkpoint directory."""
    tmp, old = (
        directory.with_name(directory.name + ".tmp"),
        directory.with_name(directory.name + ".old"),
    )
    shutil.rmtree(tmp, ignore_errors=True)
    token = uuid.uuid4().hex  # ties the two files together
    try:
        with writing(directory):
            tmp.mkdir(parents=True)
        save_weights(tmp / TENSORS, tensors, {"token": token})
        write_atomically(tmp / STATE, json.dumps({**state, "token": token}, indent=1))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(directory: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The tensors and state of a checkpoint directory (falling back to the previous one
    when a crash interrupted the swap)."""
    old = directory.with_name(directory.name + ".old")
    if not directory.exists() and old.exists():
        directory = old
    if not directory.exists():
        raise CheckpointError(f"{directory}: no checkpoint here")
    tensors, metadata = load_weights(directory / TENSORS)
    try:
        state = json.loads((directory / STATE).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{directory / STATE}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{directory / STATE}: not valid JSON ({error})") from None
    if not isinstance(state, dict) or state.get("token") != metadata.get("token"):
        raise CheckpointError(
            f"{directory}: {STATE} and {TENSORS} come from different saves; "
            "the checkpoint is corrupt"
        )
    return tensors, state


def split_prefix(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries under `prefix.`, with the prefix removed."""
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """An optimizer's state dict as tensors (per-parameter state) plus JSON (the rest)."""
    full = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in full["state"].items():
        for name, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": full["param_groups"], "scalars": scalars}


def optimizer_from_flat(
    optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], rest: dict[str, Any]
) -> None:
    """Restores what `optimizer_to_flat` saved."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *rest["scalars"].items()]:
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    # JSON turned tuples (Adam's betas) into lists; params is the one list meant as a list.
    groups = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in group.items()}
        for group in rest["param_groups"]
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
