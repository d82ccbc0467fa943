"""Image flows through the trainer and the CLI: dequantization, bits/dim, plots."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml

import bijective.train as T
from bijective.cli import main


def image_config(model: dict, **data) -> dict:
    return {
        "name": "img",
        "data": {"name": "digits"} | data,
        "model": model,
        "train": {
            "steps": 6,
            "batch": 16,
            "eval_every": 3,
            "checkpoint_every": 3,
            "importance_samples": 4,
        },
    }


GLOW = {"name": "glow", "scales": 2, "steps": 1, "channels": 8}
REALNVP = {"name": "image-realnvp", "scales": 2, "channels": 8, "blocks": 1}


@pytest.mark.parametrize(
    "model, dequantization", [(GLOW, "uniform"), (GLOW, "variational"), (REALNVP, "uniform")]
)
def test_an_image_run_reports_bits_and_writes_grids(tmp_path, capsys, model, dequantization):
    path = tmp_path / "img.yaml"
    path.write_text(yaml.safe_dump(image_config(model, dequantization=dequantization)))
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["dequantization"] == dequantization
    # bits/dim is the per-image NLL of the integer pixels over 64 ln 2.
    bits = results["test_nll"] / (64 * math.log(2))
    assert results["test_bits_per_dim"] == pytest.approx(bits, rel=1e-9)
    assert results["test_bits_per_dim_iw"] < results["test_bits_per_dim"] + 0.05
    plots = {p.name for p in (run / "plots").iterdir()}
    assert plots == {
        "curves.png",
        "data.png",
        "samples_T1.0.png",
        "samples_T0.7.png",
        "interpolation.png",
    }
    capsys.readouterr()
    out = str(tmp_path / "s.png")
    assert main(["sample", str(run), "-n", "4", "--temperature", "0.7", "-o", out]) == 0
    assert main(["eval", str(run)]) == 0


def test_n_bits_reduces_the_levels() -> None:
    raw = image_config(GLOW) | {"data": {"name": "mnist", "n_bits": 3}}
    experiment = T.build(T.parse_config(raw))
    assert experiment.levels == 8 and experiment.shift == 5
    x, context = experiment.draw(torch.Generator().manual_seed(0), 1)
    assert x.shape == (16, 1, 28, 28) and 0 <= x.min() and x.max() <= 7 and context is None
    # Back in the data's units (what the plots compare samples with): the kept top 3 bits.
    pixels = experiment.data.test.x[:4]
    shown = experiment.to_data_space(experiment.inputs(pixels))
    assert torch.equal(shown, torch.div(pixels, 32, rounding_mode="floor") * 32)


def test_image_config_errors() -> None:
    with pytest.raises(
        T.ConfigError, match="glow needs the shape of image data; data set 'moons' has none"
    ):
        T.build(T.parse_config(image_config(GLOW) | {"data": {"name": "moons"}}))
    with pytest.raises(T.ConfigError, match="data.n_bits: reduces 256-level pixels"):
        T.build(T.parse_config(image_config(GLOW, n_bits=3)))  # digits has 17 levels
    maf = {"name": "maf", "transforms": 1, "hidden": [8]}
    with pytest.raises(
        T.ConfigError, match="data.dequantization: variational dequantization needs an image flow"
    ):
        T.build(T.parse_config(image_config(maf, dequantization="variational")))
    with pytest.raises(T.ConfigError, match="divisible by 16"):
        T.build(T.parse_config(image_config(GLOW | {"scales": 4})))
