"""Small configs that train in a second or two."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bijective.train import loop


def tiny(**sections: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "tiny",
        "data": {"name": "moons", "n_train": 512, "n_val": 128, "n_test": 128},
        "model": {"name": "maf", "transforms": 2, "hidden": [16, 16]},
        "train": {"steps": 30, "batch": 64, "eval_every": 5, "checkpoint_every": 10},
    }
    for key, value in sections.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    return raw


def interrupt_during(monkeypatch: Any, step: int) -> Callable[[], None]:
    """Training raises KeyboardInterrupt during its `step`-th update, as a kill would; the
    returned function restores the real update (for the resume)."""
    update, calls = loop._update, []

    def interrupted(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt
        return update(*args)

    monkeypatch.setattr(loop, "_update", interrupted)
    return lambda: monkeypatch.setattr(loop, "_update", update)


def whole_and_resumed(parsed: Any, root: Path, monkeypatch: Any, step: int) -> tuple:
    """A config trained whole (root/whole), and again interrupted during its `step`-th
    update and resumed (root/cut): both results, and both runs' losses by step."""
    from bijective import train as T
    from bijective.train.metrics import read_metrics

    whole = T.train(parsed, root / "whole", log=lambda _: None)
    restore = interrupt_during(monkeypatch, step)
    try:
        T.train(parsed, root / "cut", log=lambda _: None)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError(f"the run was not interrupted at step {step}")
    restore()
    resumed = T.resume(root / "cut", log=lambda _: None)
    losses = [[r["loss"] for r in read_metrics(root / n / "metrics.csv")] for n in ("whole", "cut")]
    return whole, resumed, *losses
