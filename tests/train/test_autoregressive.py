"""Autoregressive models through the trainer and the CLI: binarised images (the VAE's test
set), multi-level pixels, character-level text, and the configuration errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from runs import whole_and_resumed

import bijective.train as T
from bijective.cli import main

FORTUNES = Path(__file__).parents[1] / "fixtures" / "fortunes"
TRAIN = {"steps": 30, "batch": 32, "lr": 0.003, "eval_every": 15, "checkpoint_every": 15}


def config(model: dict, data: dict | None = None, **train: object) -> dict:
    data = {"name": "digits", "binarise": True} if data is None else data
    return {"name": model["name"], "data": data, "model": model, "train": TRAIN | train}


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    "model, train",
    [
        ({"name": "nade", "hidden": 16}, {}),
        ({"name": "made", "hidden": [32], "masks": 2, "order_agnostic": True}, {}),
        ({"name": "gated-pixelcnn", "channels": 8, "layers": 2}, {"steps": 60, "lr": 0.01}),
        ({"name": "transformer", "width": 16, "depth": 1, "heads": 2}, {"steps": 60}),
    ],
)
def test_an_autoregressive_run_on_binarised_images(tmp_path, capsys, model, train) -> None:
    run = tmp_path / "run"
    raw = config(model, **train)
    assert main(["train", str(write(tmp_path, raw)), "--out", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    # Exact -log P(b) of 64 binary pixels: below the 44.4 nats of fair coins once trained.
    assert 0 < results["test_nll"] < 64 * 0.6932
    assert results["levels"] == 2 and results["binarised"].startswith("dynamic")
    assert "test_bits_per_dim_iw" not in results and "dequantization" not in results
    plots = {p.name for p in (run / "plots").iterdir()}
    assert {"samples_T1.0.png", "samples_nearest.png", "data.png"} <= plots
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["test_nll"] == pytest.approx(results["test_nll"])
    assert main(["sample", str(run), "-n", "5", "-o", str(tmp_path / "s.npy")]) == 0
    samples = torch.from_numpy(__import__("numpy").load(tmp_path / "s.npy"))
    assert samples.shape == (5, 64) and set(samples.unique().tolist()) <= {0.0, 16.0}


def test_density_and_latent_runs_share_the_binarised_test_set() -> None:
    nade = T.build(T.parse_config(config({"name": "nade", "hidden": 4})))
    vae = T.build(T.parse_config(config({"name": "vae", "latent": 2, "hidden": [8]})))
    seed = nade.config.data.seed + 2
    ours = nade.split_inputs(nade.data.test, seed)
    theirs = vae.binarise(vae.data.test.x, torch.Generator().manual_seed(seed))
    assert torch.equal(ours, theirs)
    # Training draws are dynamic: the same rows binarise differently on two draws.
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(nade.inputs(nade.data.train.x, g), nade.inputs(nade.data.train.x, g))


def test_a_flow_on_the_same_binary_data_goes_through_dequantization(tmp_path) -> None:
    raw = config({"name": "maf", "transforms": 1, "hidden": [16]}, steps=10)
    results = T.train(T.parse_config(raw), tmp_path / "run", log=lambda _: None)
    assert results["levels"] == 2 and results["dequantization"] == "uniform"
    assert results["test_nll"] > 0 and "test_bits_per_dim_iw" in results


@pytest.mark.parametrize("mixture", [0, 2])  # softmax, or PixelCNN++'s logistic mixture
def test_a_pixelcnn_on_17_level_pixels(tmp_path, mixture) -> None:
    model = {"name": "pixelcnn", "channels": 8, "blocks": 1, "mixture": mixture}
    raw = config(model, {"name": "digits"}, steps=10)
    results = T.train(T.parse_config(raw), tmp_path / "run", log=lambda _: None)
    assert results["levels"] == 17 and "binarised" not in results
    assert results["test_bits_per_dim"] < 4.09  # log2(17): uniform over the levels


@pytest.mark.parametrize(
    "model",
    [{"name": "lstm", "hidden": 32}, {"name": "transformer", "width": 32, "depth": 1, "heads": 4}],
    ids=["lstm", "transformer"],
)
def test_a_model_of_text_writes_text_samples(tmp_path, capsys, model) -> None:
    data = {"name": "fortunes", "data_dir": str(FORTUNES), "length": 32}
    raw = config(model, data, steps=40, batch=16)
    run = tmp_path / "run"
    assert main(["train", str(write(tmp_path, raw)), "--out", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["levels"] == 96 and results["test_bits_per_dim"] < 6.58  # log2(96)
    assert len(results["text_samples"]) == 3 and all(len(t) == 32 for t in results["text_samples"])
    assert (run / "plots" / "samples.txt").read_text().count("\n") == 16
    capsys.readouterr()
    out = tmp_path / "s.txt"
    assert main(["sample", str(run), "-n", "4", "--temperature", "0.5", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and all(len(line.replace("\\n", "\n")) == 32 for line in lines)
    assert main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "s.png")]) == 2
    assert "samples are text; use .txt or .npy" in capsys.readouterr().err


def test_autoregressive_config_errors(tmp_path) -> None:
    with pytest.raises(T.ConfigError, match="nade models discrete data; 'moons' is continuous"):
        T.build(T.parse_config(config({"name": "nade"}, {"name": "moons"})))
    with pytest.raises(T.ConfigError, match="data.binarise: for discrete data"):
        T.build(T.parse_config(config({"name": "maf"}, {"name": "moons", "binarise": True})))
    with pytest.raises(T.ConfigError, match="binarises image pixels"):
        data = {"name": "fortunes", "data_dir": str(FORTUNES), "binarise": True}
        T.build(T.parse_config(config({"name": "lstm"}, data)))
    with pytest.raises(T.ConfigError, match="model.masks"):
        T.parse_config(config({"name": "made", "masks": 0}))
    with pytest.raises(T.ConfigError, match="-o .*s.txt: this run's samples are not text"):
        experiment = T.build(T.parse_config(config({"name": "fvsbn"})))
        experiment.save_samples(torch.zeros(2, 64), tmp_path / "s.txt")


def test_a_transformer_with_dropout_resumes_exactly(tmp_path, monkeypatch) -> None:
    """Dropout in attention and the MLP draws from the global generator, which the
    checkpoint carries: an interrupted run resumes onto the uninterrupted losses."""
    model = {"name": "transformer", "width": 16, "depth": 2, "heads": 2, "dropout": 0.2}
    parsed = T.parse_config(config(model, steps=24, eval_every=8, checkpoint_every=8))
    # the last checkpoint before the interruption is step 8
    whole, resumed, *losses = whole_and_resumed(parsed, tmp_path, monkeypatch, 13)
    assert losses[0] == losses[1] and len(losses[0]) == 24
    assert resumed["test_nll"] == whole["test_nll"]
