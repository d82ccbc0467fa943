"""How the peer comparisons are run and read: each measurement in its own process, the
median with its min-max over processes, and ratios that call a range straddling 1 "level".

A ratio r = peer / bijective (> 1: bijective is faster) is reported as its median over
runs with the range [min peer / max ours, max peer / min ours]: if that range holds 1.0
the two are level, whatever the median says.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys

PEERS = ("nflows", "zuko", "normflows")


def require(*modules: str) -> None:
    """Exits with one line when a peer the benchmark compares against is not installed."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(
            f"{sys.argv[0]}: {', '.join(missing)} not installed; the comparisons need the "
            'benchmark extra: pip install -e ".[bench]"'
        )


def in_process(script: str, *args: str) -> dict:
    """Runs `python SCRIPT ARGS` in a fresh process and returns the JSON object that is the
    last line it prints (the worker's result)."""
    done = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{script} {' '.join(args)} failed: {tail[0]}")
    return json.loads(lines[-1])


def spread(values: list[float], digits: int = 2) -> str:
    """'median (min-max)', with `digits` decimals."""
    mid, low, high = statistics.median(values), min(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def ratio(ours: list[float], peer: list[float]) -> tuple[float, float, float]:
    """(median peer / median ours, min peer / max ours, max peer / min ours)."""
    return (
        statistics.median(peer) / statistics.median(ours),
        min(peer) / max(ours),
        max(peer) / min(ours),
    )


def verdict(low: float, high: float) -> str:
    """'faster' / 'slower' (bijective, against the peer) only when the whole range is on
    one side of 1.0; otherwise 'level'."""
    if low > 1.0:
        return "bijective faster"
    if high < 1.0:
        return "bijective slower"
    return "level"


def ratio_cell(ours: list[float], peer: list[float]) -> str:
    """'1.23x (0.98-1.40), level': the peer's time over ours, its range and the verdict."""
    mid, low, high = ratio(ours, peer)
    return f"{mid:.2f}x ({low:.2f}-{high:.2f}), {verdict(low, high)}"


def lower_cell(ours: list[float], peer: list[float]) -> str:
    """For a value where lower is better (an NLL): the difference peer - ours of the
    medians, and who is better only when the two ranges over seeds do not overlap."""
    diff = statistics.median(peer) - statistics.median(ours)
    if max(ours) < min(peer):
        who = "bijective better"
    elif max(peer) < min(ours):
        who = "peer better"
    else:
        who = "level (ranges overlap)"
    return f"{diff:+.3f}, {who}"
