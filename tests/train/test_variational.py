"""Variational inference through the trainer and the CLI: a target in place of data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import bijective.train as T
from bijective.cli import main
from bijective.train.metrics import read_metrics


def vi(**train) -> dict:
    return {
        "name": "vi",
        "target": {"name": "u1", "anneal": 10, "val_samples": 2000, "test_samples": 5000},
        "model": {"name": "planar", "layers": 4},
        "train": {"steps": 30, "batch": 64, "lr": 0.01, "eval_every": 10, "checkpoint_every": 10}
        | train,
    }


def test_data_or_target_exactly_one() -> None:
    both = vi() | {"data": {"name": "moons"}}
    with pytest.raises(T.ConfigError, match="data, target: give exactly one"):
        T.parse_config(both)
    neither = {k: v for k, v in vi().items() if k != "target"}
    with pytest.raises(T.ConfigError, match="data, target: give exactly one"):
        T.parse_config(neither)


def test_bad_target_fields_are_one_line() -> None:
    with pytest.raises(T.ConfigError, match=r"target.name: unknown target 'u9'; allowed: u1"):
        T.parse_config(vi() | {"target": {"name": "u9"}})
    with pytest.raises(
        T.ConfigError,
        match="target.radius: unknown field; allowed: name, anneal, val_samples, test_samples",
    ):
        T.parse_config(vi() | {"target": {"name": "u1", "radius": 2.0}})
    with pytest.raises(
        T.ConfigError,
        match="target.bins: unknown field; allowed: name, anneal, val_samples, test_samples, feat",
    ):
        T.parse_config(vi() | {"target": {"name": "funnel", "bins": 2}})
    config = T.parse_config(vi() | {"target": {"name": "funnel", "features": 5}})
    assert T.build(config).model.event_shape == (5,)


def test_annealing_schedule() -> None:
    experiment = T.build(T.parse_config(vi()))
    assert experiment.beta(0) == pytest.approx(0.01)
    assert experiment.beta(5) == pytest.approx(0.01 + 0.99 * 0.5)
    assert experiment.beta(10) == experiment.beta(1000) == 1.0


def test_a_run_reports_the_exact_kl_and_resumes_exactly(tmp_path) -> None:
    config = T.parse_config(vi())
    whole = T.train(config, tmp_path / "whole", log=lambda _: None)
    assert whole["kl"] > 0 and whole["kl_stderr"] < 0.1 * whole["kl"]
    assert whole["elbo"] == pytest.approx(whole["log_normalizer"] - whole["kl"])
    rows = read_metrics(tmp_path / "whole" / "metrics.csv")
    assert "val_kl" in rows[0] and rows[9]["val_kl"] is not None
    assert {p.name for p in (tmp_path / "whole" / "plots").iterdir()} == {
        "curves.png",
        "density.png",
    }
    # Stopped at step 20 (a checkpoint), then resumed: the same losses as one run.
    T.train(T.parse_config(vi(steps=20)), tmp_path / "cut", log=lambda _: None)
    (tmp_path / "cut" / "config.yaml").write_text(T.dump_config(config))
    resumed = T.resume(tmp_path / "cut", log=lambda _: None)
    losses = [r["loss"] for r in read_metrics(tmp_path / "cut" / "metrics.csv")]
    assert losses == [r["loss"] for r in rows]
    assert resumed["kl"] == pytest.approx(whole["kl"], abs=1e-6)


def test_the_cli_trains_evaluates_and_samples_a_target(tmp_path, capsys) -> None:
    path = tmp_path / "vi.yaml"
    path.write_text(yaml.safe_dump(vi()))
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "vi: KL(q || p)" in out
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    kl = json.loads((run / "results.json").read_text())["kl"]
    assert json.loads(out[out.index("{") :])["kl"] == pytest.approx(kl)
    assert main(["sample", str(run), "-n", "9", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (9, 2)
    assert main(["sample", str(run), "-n", "50", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
