"""Run directories written before the catalogue (bijective at 69ce543, tiny runs in
tests/fixtures/old_runs) still open, evaluate and resume, or fail with one line saying why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import bijective.train as T
from bijective.cli import main

OLD = Path(__file__).parents[1] / "fixtures" / "old_runs"


@pytest.fixture
def old(tmp_path):
    def copy(name: str) -> Path:
        return Path(shutil.copytree(OLD / name, tmp_path / name))

    return copy


def test_an_old_flow_run_evaluates_to_its_figures_and_resumes(old) -> None:
    run = old("moons-maf")
    before = json.loads((run / "results.json").read_text())
    again = T.evaluate(run, log=lambda _: None)
    assert again["test_nll"] == pytest.approx(before["test_nll"], rel=1e-6)
    config = T.load_config(run / "config.yaml")
    bigger = T.parse_config(config.model_dump(mode="json") | {"train": {"steps": 6}})
    (run / "config.yaml").write_text(T.dump_config(bigger))
    assert T.resume(run, log=lambda _: None)["steps"] == 6


def test_an_old_discrete_flow_run_loads_into_the_dequantized_flow(old) -> None:
    # Its weights were a Flow's; now they sit under DequantizedFlow.flow. The old test_nll
    # was the NLL of the dequantized values; bits/dim meant then what it means now.
    run = old("digits-maf")
    before = json.loads((run / "results.json").read_text())
    again = T.evaluate(run, log=lambda _: None)
    assert again["test_bits_per_dim"] == pytest.approx(before["test_bits_per_dim"], abs=0.01)


def test_an_old_variational_run_evaluates(old) -> None:
    run = old("u1-planar")
    assert T.evaluate(run, log=lambda _: None)["kl"] > 0


def test_an_old_vae_run_fails_with_one_line_saying_why(old, capsys) -> None:
    run = old("digits-vae-planar")
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the weights do not fit the configured model" in err
