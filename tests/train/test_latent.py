"""A VAE through the trainer and the CLI: binarised images, -ELBO and -log p(x)."""

from __future__ import annotations

import json

import pytest
import yaml

import bijective.train as T
from bijective.cli import main


def vae(**model) -> dict:
    return {
        "name": "vae",
        "data": {"name": "digits"},
        "model": {"name": "vae", "latent": 4, "hidden": [32, 32]} | model,
        "train": {
            "steps": 40,
            "batch": 32,
            "lr": 0.003,
            "eval_every": 20,
            "checkpoint_every": 20,
            "importance_samples": 200,
        },
    }


@pytest.mark.parametrize("posterior, steps", [("diagonal", 0), ("planar", 2), ("iaf", 1)])
def test_a_vae_run_reports_both_bounds(tmp_path, capsys, posterior, steps) -> None:
    path = tmp_path / "vae.yaml"
    path.write_text(yaml.safe_dump(vae(posterior=posterior, steps=steps)))
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    # The importance-sampled -log p(x) is below the -ELBO it tightens.
    assert 0 < results["test_nll"] < results["test_neg_elbo"]
    assert results["posterior"] == posterior and results["importance_samples"] == 200
    assert {p.name for p in (run / "plots").iterdir()} == {"curves.png", "samples.png"}
    assert "val_neg_elbo" in (run / "metrics.csv").read_text().splitlines()[0]
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "6", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_vae_config_errors() -> None:
    with pytest.raises(T.ConfigError, match="vae models binarised images; 'moons' is not"):
        T.build(T.parse_config(vae() | {"data": {"name": "moons"}}))
    with pytest.raises(T.ConfigError, match="the diagonal posterior has 0 steps"):
        T.build(T.parse_config(vae(posterior="planar")))
    with pytest.raises(T.ConfigError, match="model.posterior"):
        T.parse_config(vae(posterior=3))
    no_data = {k: v for k, v in vae().items() if k != "data"} | {"target": {"name": "u1"}}
    with pytest.raises(T.ConfigError, match="model.name: vae is fitted to data, not to a target"):
        T.build(T.parse_config(no_data))
