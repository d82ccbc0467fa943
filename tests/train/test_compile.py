"""`train.compile`: a compiled loss trains as the eager one does and a compiled
evaluation scores as the eager one does (to float tolerance), `auto` compiles only when
the eager steps (evaluations) left take long enough, and a compilation that fails falls
back to eager code with one warning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from runs import interrupt_during, tiny

import bijective as bj
from bijective.train import compiled

TRAIN = {"steps": 30, "batch": 64, "eval_every": 10, "checkpoint_every": 10}
MODEL = {"name": "maf", "transforms": 1, "hidden": [8]}


def _run(tmp_path, name: str, **train) -> tuple[np.ndarray, dict]:
    """The run's training losses, and its saved progress with the log lines and results."""
    config = bj.train.parse_config(tiny(model=MODEL, train={**TRAIN, **train}))
    lines = []
    results = bj.train.train(config, tmp_path / name, log=lines.append)
    rows = (tmp_path / name / "metrics.csv").read_text().splitlines()[1:]
    state = json.loads((tmp_path / name / "checkpoint" / "state.json").read_text())
    losses = np.array([float(r.split(",")[1]) for r in rows])
    return losses, {**state["progress"], "log": lines, "results": results}


def test_the_auto_rule() -> None:
    assert not compiled.worth_compiling(0.005, 2000)  # the demo: 10 s of steps left
    assert compiled.worth_compiling(0.05, 5000)  # 250 s left: a compile pays


def test_a_compiled_loss_trains_as_the_eager_one(tmp_path) -> None:
    eager, state = _run(tmp_path, "eager", compile=False)
    assert not state["compiled"]
    fused, compiled_state = _run(tmp_path, "compiled", compile=True)
    assert compiled_state["compiled"] and compiled_state["compile_decided"]  # for a resume
    assert compiled_state["eval_compiled"] and compiled_state["eval_compile_decided"]
    assert not any("eagerly" in line for line in compiled_state["log"])  # no fallback
    np.testing.assert_allclose(fused, eager, rtol=1e-4)
    for key in ("val_nll", "test_nll"):  # through the compiled log_prob
        np.testing.assert_allclose(compiled_state["results"][key], state["results"][key], 1e-4)


def test_auto_does_not_compile_a_short_run(tmp_path) -> None:
    _, state = _run(tmp_path, "auto")
    assert state["compile_decided"] and not state["compiled"]
    assert state["eval_compile_decided"] and not state["eval_compiled"]


def test_a_failing_compilation_falls_back_to_eager_with_one_warning(tmp_path, monkeypatch) -> None:
    def broken(function, **options):
        def call(*args, **kwargs):
            raise RuntimeError("inductor: no C++ compiler found\nmore detail")

        return call

    monkeypatch.setattr(compiled, "PAYS_AFTER", 0.0)  # auto decides to compile
    monkeypatch.setattr(torch, "compile", broken)
    eager, _ = _run(tmp_path, "eager", compile=False)
    with pytest.warns(RuntimeWarning, match="torch.compile failed .RuntimeError: inductor: no C"):
        losses, state = _run(tmp_path, "fallback")
    assert state["compiled"] and state["eval_compiled"]  # decided; the calls run eagerly
    for decided in ("compiling the loss", "compiling the evaluation"):
        assert any(decided in line for line in state["log"])
    for fallback in ("training on eagerly", "evaluating on eagerly"):
        assert sum(fallback in line for line in state["log"]) == 1
    np.testing.assert_array_equal(losses, eager)


def test_a_resumed_run_keeps_both_decisions(tmp_path, monkeypatch) -> None:
    """auto decides once (the loss after the probe, the evaluation after the first
    validation); a resumed run compiles both again from the saved decisions."""
    traced = []
    monkeypatch.setattr(torch, "compile", lambda fn, **_: traced.append(fn) or fn)  # a spy
    monkeypatch.setattr(compiled, "PAYS_AFTER", 0.0)
    restore = interrupt_during(monkeypatch, 35)  # the last checkpoint is step 30
    config = bj.train.parse_config(tiny(model=MODEL, train={**TRAIN, "steps": 50}))
    lines = []
    with pytest.raises(KeyboardInterrupt):
        bj.train.train(config, tmp_path / "cut", log=lines.append)
    assert sum("train.compile auto: compiling" in line for line in lines) == 2
    assert len(traced) == 2
    restore()
    traced.clear()
    lines.clear()
    bj.train.resume(tmp_path / "cut", log=lines.append)
    assert len(traced) == 2 and not any("train.compile auto" in line for line in lines)


def test_a_compiled_evaluation_draws_the_eager_noise() -> None:
    """Dequantized digits: the compiled log_prob draws its uniform noise from torch's
    generator as eager code does (inductor's fallback_random), so validation gives the
    same number."""
    raw = {**tiny(model=MODEL, train=TRAIN), "data": {"name": "digits", "logit": 0.05}}
    experiment = bj.train.build(bj.train.parse_config(raw))
    eager = experiment.validate(experiment.model)
    lines = []
    experiment.compile_evaluation(lines.append)
    assert experiment.validate(experiment.model) == pytest.approx(eager, rel=1e-6)
    assert not lines  # no fallback


def test_compiled_log_prob_and_loss_trace_as_one_graph() -> None:
    """Input validation reads tensor values (NaN checks, the non-finite warning); inside
    code torch.compile traces it is skipped, so nothing breaks the graph."""
    x = torch.randn(16, 4)
    for flow in (
        bj.flows.MAF(4, transforms=2, hidden=[8]),
        bj.flows.NSF(4, transforms=2, bins=4, hidden=[8]),  # the spline's autograd.Function
        bj.flows.RealNVP(4, transforms=2, hidden=[8]),
    ):
        for fn in (flow.log_prob, lambda v, flow=flow: bj.objectives.nll(flow, v)):
            explained = torch._dynamo.explain(fn)(x)
            assert explained.graph_break_count == 0, type(flow).__name__
        with pytest.raises(ValueError, match="NaN"):  # eager calls still validate
            flow.log_prob(torch.full((2, 4), float("nan")))
