"""Faults of the machine, each one line: a full disk or quota, a read-only or forbidden
directory, out of memory (preemption: bijective.train.preemption).

Writing: each refusal becomes a WriteError naming the path (and, for a full disk, the
space free and the space the write needed), which the command line prints with exit
status 2. Files are written whole or not at all: into a temporary beside them, renamed
into place, the temporary removed if anything fails, so a failed write leaves the
previous version of the file and nothing else. Memory: an out-of-memory error of CUDA or
the CPU allocator becomes an OutOfMemory naming the setting to lower.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import torch

FULL = (errno.ENOSPC, errno.EDQUOT)
FORBIDDEN = (errno.EROFS, errno.EACCES, errno.EPERM)


class OutOfMemory(RuntimeError):
    """A training step or an evaluation ran out of memory; the message says what to
    lower."""


def _is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError | MemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
    )


@contextmanager
def out_of_memory(doing: str) -> Iterator[None]:
    """An out-of-memory error (CUDA's, the CPU allocator's, Python's) raised within
    becomes OutOfMemory("out of memory " + doing); other errors pass."""
    try:
        yield
    except Exception as error:
        if not _is_out_of_memory(error):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise OutOfMemory(f"out of memory {doing}") from None


class WriteError(OSError):
    """A run's file could not be written: the disk is full or the place is read-only.
    str() is the one line; `errno` the system's reason."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.errno = code


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def _existing(path: Path) -> Path:
    """The nearest existing ancestor of path (path itself if it exists)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


@contextmanager
def writing(path: Path, needed: int | None = None) -> Iterator[None]:
    """Turns a full disk, a quota or a read-only place while writing `path` (`needed`
    bytes, where known) into one WriteError line."""
    try:
        yield
    except WriteError:
        raise
    except OSError as error:
        if error.errno in FULL:
            free = shutil.disk_usage(_existing(path)).free
            need = "" if needed is None else f", about {_size(needed)} needed"
            raise WriteError(
                error.errno,
                f"{path}: no space left on the device ({_size(free)} free{need}); free some "
                "space and run the command again (a run continues from its last checkpoint "
                "with `bijective resume RUN_DIR`)",
            ) from None
        if error.errno in FORBIDDEN:
            raise WriteError(
                error.errno, f"{path}: cannot write here ({error.strerror}); choose another place"
            ) from None
        raise


def write_atomically(path: Path, data: bytes | str | Callable[[IO[bytes]], None]) -> None:
    """`path` holds `data` (bytes, text as UTF-8, or what a writer puts in a binary file)
    whole and synced to disk; after any error it holds what it held before, and no
    temporary file is left."""
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(path.name + ".tmp")
    with writing(path, len(data) if isinstance(data, bytes) else None):
        try:
            with open(tmp, "wb") as f:
                f.write(data) if isinstance(data, bytes) else data(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def check_writable(directory: Path) -> None:
    """WriteError before any work when `directory` (or, if it does not exist yet, the
    nearest existing directory above it, where it will be created) cannot be written:
    a file is created there and removed (permission bits alone do not tell, e.g. for root
    on a read-only mount)."""
    place = _existing(directory)
    with writing(place):
        descriptor, name = tempfile.mkstemp(prefix=".bijective-probe-", dir=place)
        os.close(descriptor)
        os.unlink(name)
