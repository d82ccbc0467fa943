"""Training on a user's own data: from Python (`train(config, data=...)`) and from the
command line (`bijective train --data FILE`), into run directories that eval, sample and
resume work on."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

import bijective as bj
from bijective.cli import main

QUICK = {"steps": 20, "batch": 32, "eval_every": 10, "checkpoint_every": 10}


def _points(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, n)
    return rng.normal(size=(n, 2)) + 3 * labels[:, None], labels


def _quiet(*_: object) -> None:
    pass


@pytest.mark.parametrize(
    "kind", ["numpy float64", "tensor", "pair", "torch Dataset", "bijective Dataset"]
)
def test_train_takes_in_memory_data_and_keeps_it_with_the_run(tmp_path, kind) -> None:
    x, labels = _points()
    data = {
        "numpy float64": x,
        "tensor": torch.from_numpy(x).float(),
        "pair": (x, labels),
        "torch Dataset": torch.utils.data.TensorDataset(
            torch.from_numpy(x), torch.from_numpy(labels)
        ),
        "bijective Dataset": bj.data.load("moons", n_train=200, n_val=50, n_test=50),
    }[kind]
    config = {
        "name": "mine",
        "model": {"name": "maf", "transforms": 2, "hidden": [8]},
        "train": QUICK,
    }
    run = tmp_path / "run"
    results = bj.train.train(config, run, data=data, log=_quiet)
    assert np.isfinite(results["test_nll"])
    written = yaml.safe_load((run / "config.yaml").read_text())
    assert written["data"]["name"] == "file"
    assert written["data"]["path"] == str((run / "data.npz").resolve())
    assert len(written["data"]["sha256"]) == 64
    again = bj.train.evaluate(run, log=_quiet)  # reopened from the saved data
    assert again["test_nll"] == pytest.approx(results["test_nll"], abs=1e-6)
    assert bj.train.open_run(run).sample(5).shape == (5, 2)


def test_in_memory_labels_condition_a_model(tmp_path) -> None:
    x, labels = _points()
    config = {
        "name": "mine",
        "data": {"conditional": True, "test_fraction": 0.2},
        "model": {"name": "maf", "transforms": 2, "hidden": [8]},
        "train": QUICK,
    }
    bj.train.train(config, tmp_path / "run", data=(x, labels), log=_quiet)
    experiment = bj.train.open_run(tmp_path / "run")
    assert experiment.data.classes == 3 and len(experiment.data.test) == 60
    assert experiment.sample(4, label=2).shape == (4, 2)


def test_a_bad_config_with_data_writes_nothing(tmp_path) -> None:
    config = {"name": "mine", "model": {"name": "maf", "bins": 3}, "train": QUICK}
    with pytest.raises(bj.train.ConfigError, match="model.bins: unknown field"):
        bj.train.train(config, tmp_path / "run", data=_points()[0], log=_quiet)
    assert not (tmp_path / "run").exists()
    with pytest.raises(TypeError, match="expected a NumPy array"):
        bj.train.train(config, tmp_path / "run", data="x.csv", log=_quiet)


def test_resume_refuses_data_that_changed_since_the_run(tmp_path, capsys) -> None:
    path = tmp_path / "mine.csv"
    x, _ = _points()
    path.write_text("a,b\n" + "".join(f"{a},{b}\n" for a, b in x))
    run = tmp_path / "run"
    argv = ["train", "--data", str(path), "--model", "maf", "--out", str(run)]
    assert main([*argv, *[f"--set=train.{k}={v}" for k, v in QUICK.items()]]) == 0
    assert main(["eval", str(run)]) == 0
    path.write_text("a,b\n" + "".join(f"{a},{b}\n" for a, b in x[::-1] + 1))
    capsys.readouterr()
    assert main(["resume", str(run)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "contents changed since the run recorded them" in error


def test_the_cli_trains_on_a_csv_and_writes_the_config_it_used(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    x, labels = _points()
    (tmp_path / "my data.csv").write_text(
        "u,v,group\n" + "".join(f"{a},{b},g{c}\n" for (a, b), c in zip(x, labels, strict=True))
    )
    sets = [f"--set=train.{k}={v}" for k, v in QUICK.items()]
    argv = ["train", "--data", "my data.csv", "--model", "realnvp", "--set", "data.label=group"]
    assert main([*argv, "--set", "data.conditional=true", *sets]) == 0
    run = tmp_path / "runs" / "my-data-realnvp"  # a safe name from the file's
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["name"] == "realnvp" and config["data"]["label"] == "group"
    assert config["data"]["path"] == str(tmp_path / "my data.csv")
    results = json.loads((run / "results.json").read_text())
    assert np.isfinite(results["test_nll"])
    assert main(["sample", str(run), "-n", "3", "--label", "2", "-o", "s.npy"]) == 0
    assert np.load(tmp_path / "s.npy").shape == (3, 2)


def test_the_cli_data_errors_are_one_line_and_write_nothing(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "missing.csv"]) == 2
    assert main(["train"]) == 2
    (tmp_path / "t.csv").write_text("a,b\n1,x\n2,3\n")
    assert main(["train", "--data", "t.csv"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "bijective: error: data.path: missing.csv: no such file or directory",
        "bijective: error: train: give a CONFIG file, or your data with --data FILE",
        f"bijective: error: data: data file {tmp_path / 't.csv'}: column 'b' is not numeric; "
        "model a table of mixed columns with model tabular (bijective train --data FILE "
        "--model tabular)",
    ]
    assert not (tmp_path / "runs").exists()
