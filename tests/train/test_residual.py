"""Residual and continuous flows through the command line: train, evaluate, sample, and a
solve over its budget as one line (exit 2) that keeps what the run saved."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from runs import tiny

from bijective.cli import main


def config_with(model: dict, **sections) -> dict:
    raw = tiny(train={"steps": 10}, **sections)
    raw["model"] = model  # replaces the tiny MAF's options
    return raw


MODELS = {
    "resflow": {"name": "resflow", "blocks": 2, "hidden": [16]},
    "iresnet": {"name": "iresnet", "blocks": 2, "hidden": [16]},
    "ffjord": {"name": "ffjord", "hidden": [16], "rtol": 1e-3, "atol": 1e-3},
}


@pytest.mark.parametrize("name", list(MODELS))
def test_train_eval_and_sample(tmp_path, capsys, name: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(config_with(MODELS[name])))
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert np.isfinite(results["test_nll"])
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["test_nll"] == pytest.approx(results["test_nll"])
    assert main(["sample", str(run), "-n", "6", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.isfinite(np.load(tmp_path / "s.npy")).all()


def test_an_ode_over_its_step_budget_is_one_line(tmp_path, capsys) -> None:
    config = tmp_path / "c.yaml"
    model = {**MODELS["ffjord"], "max_steps": 1, "rtol": 1e-9, "atol": 1e-9}
    config.write_text(yaml.safe_dump(config_with(model)))
    code = main(["train", str(config), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "max_steps" in err


def test_a_lipschitz_coefficient_of_1_is_refused_by_the_config(tmp_path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(config_with({**MODELS["resflow"], "coeff": 1.0})))
    code = main(["train", str(config), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "coeff" in err and not (tmp_path / "run").exists()
