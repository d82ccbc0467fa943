"""Character-level text: a corpus as rows of `length` character codes, for autoregressive
models of sequences. The alphabet is fixed: newline and the 95 printable ASCII characters,
code = position in ALPHABET (so a run's codes never depend on its data)."""

from __future__ import annotations

import string
import unicodedata
from pathlib import Path

import torch
from torch import Tensor

from .dataset import Dataset, Split

ALPHABET = "\n" + "".join(chr(c) for c in range(32, 127))
FORTUNES_DIR = Path("/usr/share/games/fortunes")
# The fortune files of English prose and verse (Debian's `fortunes` package); the ASCII
# art and the command-line jokes are left out.
FORTUNE_FILES = (
    "literature", "wisdom", "people", "humorists", "science", "work", "education",
    "politics", "love", "platitudes", "songs-poems", "riddles", "miscellaneous", "food",
    "law", "medicine", "pets", "sports", "kids", "men-women", "definitions", "goedel",
)  # fmt: skip


def encode(text: str) -> Tensor:
    """Characters -> codes (int64) in ALPHABET; an unknown character raises."""
    index = {c: i for i, c in enumerate(ALPHABET)}
    unknown = sorted({c for c in text if c not in index})
    if unknown:
        raise ValueError(
            f"text: unknown characters {unknown[:5]!r}; the alphabet is newline and "
            "printable ASCII (bijective.data.text.ALPHABET)"
        )
    return torch.tensor([index[c] for c in text], dtype=torch.long)


def decode(codes: Tensor) -> str:
    """Codes -> characters; a code outside 0..len(ALPHABET)-1 raises."""
    values = [int(c) for c in codes.flatten()]
    bad = [v for v in values if not 0 <= v < len(ALPHABET)]
    if bad:
        raise ValueError(f"text: code {bad[0]} is outside 0..{len(ALPHABET) - 1}")
    return "".join(ALPHABET[v] for v in values)


def normalise(text: str) -> str:
    """Tabs to spaces, accents stripped (NFKD), other characters outside ALPHABET dropped."""
    text = unicodedata.normalize("NFKD", text.replace("\t", " ").replace("\r", ""))
    keep = set(string.printable) & set(ALPHABET)
    return "".join(c for c in text if c in keep)


def rows(text: str, length: int) -> Tensor:
    """Non-overlapping rows of `length` codes (N, length); the tail is dropped."""
    codes = encode(text)
    n = len(codes) // length
    return codes[: n * length].view(n, length).float()


def fortunes(
    length: int = 64,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    data_dir: str | Path | None = None,
) -> Dataset:
    """English quotations and verse from Debian's fortunes (`apt-get install fortunes`),
    the FORTUNE_FILES found in `data_dir`, character level: the fortunes are split
    (seeded) into train/val/test, each part's fortunes joined by blank lines and cut
    into rows of `length` characters."""
    directory = Path(data_dir) if data_dir is not None else FORTUNES_DIR
    files = [directory / name for name in FORTUNE_FILES if (directory / name).is_file()]
    if not files:
        raise ValueError(
            f"fortunes: no fortune files ({', '.join(FORTUNE_FILES[:3])}, ...) in "
            f"{directory}; install Debian's `fortunes` package or give data_dir"
        )
    if length < 2:
        raise ValueError(f"fortunes: length must be >= 2 characters; got {length}")
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < fraction < 0.5:
            raise ValueError(f"fortunes: {name} must lie in (0, 0.5); got {fraction}")
    quotes = []
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        quotes += [q.strip("\n") for q in normalise(text).split("\n%\n") if q.strip()]
    order = torch.randperm(len(quotes), generator=torch.Generator().manual_seed(seed)).tolist()
    n_test, n_val = round(test_fraction * len(quotes)), round(val_fraction * len(quotes))
    parts = [order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]]
    splits = [Split(rows("\n\n".join(quotes[i] for i in part), length)) for part in parts]
    return Dataset("fortunes", *splits, levels=len(ALPHABET), vocabulary=ALPHABET)
