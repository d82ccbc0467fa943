"""Checkpoints: no pickle, atomic, and one clear error for every way they break."""

from __future__ import annotations

import json

import pytest
import torch

import bijective.train as T
from bijective.train.checkpoint import optimizer_from_flat, optimizer_to_flat


def test_a_checkpoint_round_trips_tensors_and_state(tmp_path) -> None:
    tensors = {"model.w": torch.randn(3, 4), "rng.torch": torch.get_rng_state()}
    T.save_checkpoint(tmp_path / "ckpt", tensors, {"step": 7, "best": 1.5})
    loaded, state = T.load_checkpoint(tmp_path / "ckpt")
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())
    assert state["step"] == 7 and state["best"] == 1.5
    assert not (tmp_path / "ckpt.tmp").exists() and not (tmp_path / "ckpt.old").exists()


def test_the_optimizer_state_round_trips_exactly(tmp_path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(5, 3)).square().sum().backward()
        optimizer.step()
    tensors, rest = optimizer_to_flat(optimizer)
    T.save_checkpoint(tmp_path / "c", tensors, json.loads(json.dumps(rest)))
    loaded, state = T.load_checkpoint(tmp_path / "c")
    fresh = torch.optim.AdamW(model.parameters(), lr=0.5)
    optimizer_from_flat(fresh, loaded, state)
    a, b = optimizer.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for index, values in a["state"].items():
        assert all(torch.equal(values[k], b["state"][index][k]) for k in values)


def test_a_crash_during_the_swap_leaves_the_previous_checkpoint_loadable(tmp_path) -> None:
    T.save_checkpoint(tmp_path / "ckpt", {"w": torch.ones(2)}, {"step": 1})
    (tmp_path / "ckpt").rename(tmp_path / "ckpt.old")  # as if killed between the renames
    tensors, state = T.load_checkpoint(tmp_path / "ckpt")
    assert state["step"] == 1 and torch.equal(tensors["w"], torch.ones(2))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "tensors.safetensors").write_bytes(b"\x00" * 20),
            "not a readable safetensors file",
        ),
        (
            lambda d: (d / "tensors.safetensors").write_bytes(
                (d / "tensors.safetensors").read_bytes()[:-8]
            ),
            "not a readable safetensors file",
        ),
        (lambda d: (d / "state.json").write_text("{ truncated"), "not valid JSON"),
        (lambda d: (d / "state.json").unlink(), "state.json: missing"),
        (
            lambda d: (d / "state.json").write_text(json.dumps({"step": 1, "token": "other"})),
            "come from different saves",
        ),
    ],
    ids=["garbage", "truncated", "bad-json", "no-json", "mismatched"],
)
def test_a_corrupt_checkpoint_is_one_clear_error(tmp_path, damage, message) -> None:
    T.save_checkpoint(tmp_path / "ckpt", {"w": torch.ones(64)}, {"step": 1})
    damage(tmp_path / "ckpt")
    with pytest.raises(T.CheckpointError, match=message):
        T.load_checkpoint(tmp_path / "ckpt")


def test_no_pickle_is_written(tmp_path) -> None:
    T.save_checkpoint(tmp_path / "ckpt", {"w": torch.ones(2)}, {"step": 1})
    for path in (tmp_path / "ckpt").iterdir():
        assert b"\x80\x04" not in path.read_bytes()[:2]  # no pickle protocol header
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "state.json",
        "tensors.safetensors",
    ]
