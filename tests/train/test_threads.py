"""`train.threads`: auto is 1 thread for vector models and the free cores for image
models; the count is saved with the run and restored around training."""

from __future__ import annotations

import json

import pytest
import torch
from runs import tiny

import bijective as bj
from bijective.train import threads


def test_auto_is_one_thread_for_vectors_and_the_free_cores_for_images(monkeypatch) -> None:
    monkeypatch.setattr(threads, "cores", lambda: 8)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.6, 0.0, 0.0))
    assert threads.auto_threads(bj.flows.MAF(4, transforms=1, hidden=(8,))) == 1
    glow = bj.flows.Glow((1, 4, 4), scales=1, steps=1, channels=8)
    assert threads.auto_threads(glow) == 5  # 8 cores, 3 busy
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (11.0, 0.0, 0.0))
    assert threads.auto_threads(glow) == 1


@pytest.mark.parametrize(("setting", "expected"), [("auto", 1), (2, 2)])
def test_a_run_trains_with_its_threads_and_restores_torchs(tmp_path, setting, expected) -> None:
    seen = []
    config = bj.train.parse_config(tiny(train={"threads": setting, "steps": 10}))
    before = torch.get_num_threads()
    experiment_loss = bj.train.DensityExperiment.loss

    def loss(self, model, batch):
        seen.append(torch.get_num_threads())
        return experiment_loss(self, model, batch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bj.train.DensityExperiment, "loss", loss)
        bj.train.train(config, tmp_path / "run", log=lambda *_: None)
    assert set(seen) == {expected} and torch.get_num_threads() == before
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state["progress"]["threads"] == expected


def test_threads_must_be_positive_or_auto() -> None:
    with pytest.raises(bj.train.ConfigError, match="train.threads"):
        bj.train.parse_config(tiny(train={"threads": 0}))
