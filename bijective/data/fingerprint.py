"""The SHA-256 fingerprint of a data file or a PNG directory, which a run records so that
reopening it with other data is an error, not a silent change.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


def fingerprint(path: str | Path) -> str:
    """The SHA-256 of a data file, or of a PNG directory's file names and contents: a run
    records it, and reopening the run with other data is an error, not a silent change.
    Computed once per process for files of unchanged size and modification time (a run
    records it and its loader checks it)."""
    path = Path(path).expanduser().resolve()
    files = sorted(path.rglob("*.png")) if path.is_dir() else [path]
    stamps = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _sha256(path, stamps)


@functools.lru_cache(maxsize=64)
def _sha256(path: Path, stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamps:
        file = Path(name)
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode())
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
