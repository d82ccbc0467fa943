"""`train.compile`: a compiled loss trains as the eager one does (to float tolerance),
`auto` compiles only when the eager steps left take long enough, and a compilation that
fails falls back to eager code with one warning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from runs import tiny

import bijective as bj
from bijective.train import compiled

TRAIN = {"steps": 30, "batch": 64, "eval_every": 10, "checkpoint_every": 10}
MODEL = {"name": "maf", "transforms": 1, "hidden": [8]}


def _run(tmp_path, name: str, **train) -> tuple[np.ndarray, dict]:
    config = bj.train.parse_config(tiny(model=MODEL, train={**TRAIN, **train}))
    lines = []
    bj.train.train(config, tmp_path / name, log=lines.append)
    rows = (tmp_path / name / "metrics.csv").read_text().splitlines()[1:]
    state = json.loads((tmp_path / name / "checkpoint" / "state.json").read_text())
    return np.array([float(r.split(",")[1]) for r in rows]), {**state["progress"], "log": lines}


def test_the_auto_rule() -> None:
    assert not compiled.worth_compiling(0.005, 2000)  # the demo: 10 s of steps left
    assert compiled.worth_compiling(0.05, 5000)  # 250 s left: a compile pays


def test_a_compiled_loss_trains_as_the_eager_one(tmp_path) -> None:
    eager, state = _run(tmp_path, "eager", compile=False)
    assert not state["compiled"]
    fused, state = _run(tmp_path, "compiled", compile=True)
    assert state["compiled"] and state["compile_decided"]  # kept for a resume
    np.testing.assert_allclose(fused, eager, rtol=1e-4)


def test_auto_does_not_compile_a_short_run(tmp_path) -> None:
    _, state = _run(tmp_path, "auto")
    assert state["compile_decided"] and not state["compiled"]


def test_a_failing_compilation_falls_back_to_eager_with_one_warning(tmp_path, monkeypatch) -> None:
    def broken(function):
        def call(*args, **kwargs):
            raise RuntimeError("inductor: no C++ compiler found\nmore detail")

        return call

    monkeypatch.setattr(compiled, "PAYS_AFTER", 0.0)  # auto decides to compile
    monkeypatch.setattr(torch, "compile", broken)
    eager, _ = _run(tmp_path, "eager", compile=False)
    with pytest.warns(RuntimeWarning, match="torch.compile failed .RuntimeError: inductor: no C"):
        losses, state = _run(tmp_path, "fallback")
    assert state["compiled"]  # decided; the calls themselves run eagerly
    assert any("compiling the loss" in line for line in state["log"])
    np.testing.assert_array_equal(losses, eager)
