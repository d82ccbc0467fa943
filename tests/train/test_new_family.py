"""A new model family lands as one module and one catalogue line: the config schema,
`bijective list`, the dispatch to a kind, training, resume, eval and sample all follow,
with no edit to the CLI, the loop or the config module."""

from __future__ import annotations

import json

import pytest
import yaml
from families.gaussian import DiagonalGaussian

import bijective as bj
import bijective.train as T
from bijective.catalogue import MODELS
from bijective.cli import main


@pytest.fixture
def registered():
    MODELS.add("toy-gaussian", DiagonalGaussian, ("density",), ("features", "context"))
    yield
    MODELS.remove("toy-gaussian")


def test_a_registered_family_trains_through_the_command_line(tmp_path, capsys, registered):
    raw = {
        "name": "toy",
        "data": {"name": "moons", "n_train": 256, "n_val": 64, "n_test": 64, "conditional": True},
        "model": {"name": "toy-gaussian", "init_scale": 2.0},
        "train": {"steps": 20, "batch": 64, "lr": 0.05, "eval_every": 10},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "toy-gaussian" and results["parameters"] == 2 + 2 + 2 * 2
    assert results["test_nll"] < 2 * 1.4189 + 2 * 0.6931  # better than its N(0, 2^2 I) start
    assert main(["eval", str(run)]) == 0
    assert main(["sample", str(run), "-n", "3", "--label", "1", "-o", str(tmp_path / "s.npy")]) == 0
    assert main(["list"]) == 0
    assert "toy-gaussian" in capsys.readouterr().out
    assert isinstance(T.open_run(run).model, bj.Density)


def test_its_options_are_validated_from_its_signature(tmp_path, registered) -> None:
    raw = {"name": "toy", "data": {"name": "moons"}, "model": {"name": "toy-gaussian"}}
    assert T.parse_config(raw).model.init_scale == 1.0
    with pytest.raises(
        T.ConfigError, match="model.scale: unknown field; allowed: name, init_scale"
    ):
        T.parse_config(raw | {"model": {"name": "toy-gaussian", "scale": 2}})
    with pytest.raises(T.ConfigError, match="model.init_scale: Input should be a valid number"):
        T.parse_config(raw | {"model": {"name": "toy-gaussian", "init_scale": "big"}})
