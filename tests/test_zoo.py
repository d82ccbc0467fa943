"""The pretrained zoo: every shipped model loads with the SHA-256 its card records and,
rebuilt on its card's config and data, recomputes the card's test NLL; the zoo stays
small; `bijective sample pretrained:NAME` samples in the data's units; a wrong name or a
changed weights file is one line."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import bijective as bj
from bijective import zoo
from bijective.cli import main
from bijective.saving import SaveError

EXPECTED = {"moons-nsf", "digits-maf", "digits-glow", "mnist-pixelcnn"}


def test_the_zoo_holds_the_models_and_stays_small() -> None:
    assert EXPECTED <= set(zoo.NAMES)
    size = sum(p.stat().st_size for p in zoo.ZOO.rglob("*") if p.is_file())
    assert size < 6e6, f"{size / 1e6:.1f} MB"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_pretrained_model_recomputes_its_recorded_test_nll(name) -> None:
    card = zoo.card(name)
    assert zoo.sha256(zoo.ZOO / name / "model.safetensors") == card["sha256"]
    model = bj.pretrained(name)
    assert not model.training
    experiment = zoo.open_pretrained(name)
    seed = experiment.config.data.seed
    with torch.no_grad():
        nll = experiment.nll(experiment.data.test, seed + 2)
    assert nll == pytest.approx(card["test_nll"], rel=1e-4)


def test_sampling_a_pretrained_model_from_the_command_line(tmp_path, capsys) -> None:
    out = tmp_path / "moons.npy"
    assert main(["sample", "pretrained:moons-nsf", "-n", "500", "-o", str(out)]) == 0
    samples = np.load(out)
    assert samples.shape == (500, 2)
    # the data's units (moons span about [-1, 2] x [-0.5, 1]), not the standardised ones
    assert -1.5 < samples[:, 0].mean() < 1.5 and samples[:, 0].max() > 1.5
    assert main(["sample", "pretrained:moon", "-n", "5", "-o", str(out)]) == 2
    assert "no pretrained model 'moon'; there are: " in capsys.readouterr().err


def test_a_changed_weights_file_is_refused(tmp_path, monkeypatch) -> None:
    copy = tmp_path / "zoo"
    shutil.copytree(zoo.ZOO / "moons-nsf", copy / "moons-nsf")
    with open(copy / "moons-nsf" / "model.safetensors", "ab") as f:
        f.write(b"\0")
    monkeypatch.setattr(zoo, "ZOO", copy)
    with pytest.raises(SaveError, match="not the file its card records"):
        bj.pretrained("moons-nsf")
