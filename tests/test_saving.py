"""bj.save and bj.load: every catalogue model comes back as the same function (float64,
random weights), dequantized flows and run directories too; the folder is the layout a
Hugging Face repository snapshot has; a model saved in format 1 keeps loading (a
committed fixture); and every bad folder or model is one SaveError line with nothing
written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from runs import tiny
from test_density import TINY, data, make

import bijective as bj
from bijective.saving import CONFIG_JSON, WEIGHTS, SaveError

FIXTURE = Path(__file__).parent / "fixtures" / "saved" / "nsf-format1"


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model.eval()


def same_function(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor, **extra) -> None:
    torch.manual_seed(5)
    want = a.log_prob(x, **extra)
    torch.manual_seed(5)
    torch.testing.assert_close(b.log_prob(x, **extra), want, rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_catalogue_model_comes_back_as_the_same_function(tmp_path, name) -> None:
    model = randomised(make(name))
    loaded = bj.load(bj.save(model, tmp_path / name))
    assert type(loaded) is type(model) and not loaded.training
    assert next(loaded.parameters()).dtype == torch.float64
    same_function(model, loaded, data(model, 6))


def test_a_conditional_flow_and_its_samples_come_back(tmp_path) -> None:
    flow = randomised(bj.flows.MAF(3, context=2, transforms=2, hidden=(8,)))
    loaded = bj.load(bj.save(flow, tmp_path / "maf"))
    x, c = torch.randn(5, 3), torch.randn(5, 2)
    same_function(flow, loaded, x, context=c)
    torch.manual_seed(0)
    want = flow.sample((), c)
    torch.manual_seed(0)
    assert torch.equal(loaded.sample((), c), want)


def test_the_folder_is_a_hugging_face_snapshot(tmp_path) -> None:
    """What huggingface_hub.upload_folder publishes and snapshot_download returns: the two
    files at the top, beside a model card and git attributes."""
    flow = randomised(bj.flows.RealNVP(2, transforms=2, hidden=(8,)))
    folder = bj.save(flow, tmp_path / "saved")
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_JSON, WEIGHTS]
    snapshot = tmp_path / "models--someone--realnvp" / "snapshots" / "0123abc"
    shutil.copytree(folder, snapshot)
    (snapshot / "README.md").write_text("---\nlibrary_name: bijective\n---\n# a flow\n")
    (snapshot / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    same_function(flow, bj.load(snapshot), torch.randn(4, 2))


def test_a_model_saved_in_format_1_still_loads_and_computes_the_same() -> None:
    check = json.loads((FIXTURE / "check.json").read_text())
    model = bj.load(FIXTURE)
    x, c = torch.tensor(check["x"]), torch.tensor(check["context"])
    torch.testing.assert_close(model.log_prob(x, c), torch.tensor(check["log_prob"]))


def test_a_run_directory_loads_and_saves_with_its_standardisation(tmp_path) -> None:
    run = tmp_path / "run"
    bj.train.train(bj.train.parse_config(tiny(train={"steps": 10})), run, log=lambda _: None)
    model = bj.load(run)
    experiment = bj.train.open_run(run)
    x = experiment.split_inputs(experiment.data.test, 0)
    same_function(experiment.model, model, x)
    folder = bj.save(run, tmp_path / "saved")
    config = json.loads((folder / CONFIG_JSON).read_text())
    assert config["preprocessing"]["standardise"]["shift"] == experiment.data.shift.tolist()
    same_function(experiment.model, bj.load(folder), x)


def write_config(folder: Path, **changes) -> None:
    config = json.loads((folder / CONFIG_JSON).read_text())
    (folder / CONFIG_JSON).write_text(json.dumps({**config, **changes}))


def copy_of_fixture(tmp_path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "copy"))


def test_bad_folders_are_one_line(tmp_path) -> None:
    with pytest.raises(SaveError, match=r"no config.json; not a model saved by bj.save"):
        bj.load(tmp_path)
    folder = copy_of_fixture(tmp_path)
    write_config(folder, format=2, version="9.0.0")
    with pytest.raises(SaveError, match=r"saved by bijective 9.0.0 in format 2; this bijective "):
        bj.load(folder)
    folder = copy_of_fixture(tmp_path / "b")
    write_config(folder, model={"name": "maff", "arguments": {}})
    with pytest.raises(SaveError, match=r"unknown architecture 'maff'; allowed: maf"):
        bj.load(folder)
    folder = copy_of_fixture(tmp_path / "c")
    write_config(folder, model={"name": "nsf", "arguments": {"features": 2, "wings": 2}})
    with pytest.raises(SaveError, match=r"cannot build nsf \(.*wings"):
        bj.load(folder)
    folder = copy_of_fixture(tmp_path / "d")
    (folder / CONFIG_JSON).write_text("{not json")
    with pytest.raises(SaveError, match="not valid JSON"):
        bj.load(folder)


def test_tampered_weights_are_refused(tmp_path) -> None:
    folder = copy_of_fixture(tmp_path)
    raw = bytearray((folder / WEIGHTS).read_bytes())
    raw[-5] ^= 0xFF  # one flipped byte of the last tensor
    (folder / WEIGHTS).write_bytes(bytes(raw))
    with pytest.raises(SaveError, match="corrupt"):
        bj.load(folder)


def test_what_cannot_be_saved_is_one_line_and_writes_nothing(tmp_path) -> None:
    own = bj.Flow(bj.transforms.Affine(2), bj.distributions.StandardNormal(2))
    with pytest.raises(SaveError, match="Flow is not a model of the catalogue"):
        bj.save(own, tmp_path / "own")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(SaveError, match="not empty and not a saved model"):
        bj.save(bj.flows.MAF(2, transforms=1, hidden=(4,)), tmp_path / "full")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["full", "notes.txt"]


def test_saving_again_replaces_a_saved_model(tmp_path) -> None:
    first = randomised(bj.flows.MAF(2, transforms=1, hidden=(4,)))
    bj.save(first, tmp_path / "m")
    second = randomised(bj.flows.NICE(2, transforms=2, hidden=(4,)))
    same_function(second, bj.load(bj.save(second, tmp_path / "m")), torch.randn(3, 2))


def test_a_full_disk_while_saving_is_one_line_and_leaves_no_temporary(
    tmp_path, monkeypatch
) -> None:
    import errno
    import os

    from bijective.train import checkpoint, faults

    real = faults.write_atomically

    def full(path, data):
        def half(f):
            f.write(b"\0" * 32)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return real(path, half)

    monkeypatch.setattr(checkpoint, "write_atomically", full)
    with pytest.raises(faults.WriteError, match=r"model.safetensors: no space left on the device"):
        bj.save(bj.flows.MAF(2, transforms=1, hidden=(4,)), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_config_and_weights_from_different_saves_are_refused(tmp_path) -> None:
    """Weights replaced by another save of the same architecture (e.g. a save that failed
    between its two files): config.json's recorded SHA-256 tells them apart."""
    make_flow = lambda: randomised(bj.flows.MAF(2, transforms=1, hidden=(4,)))  # noqa: E731
    first, second = bj.save(make_flow(), tmp_path / "a"), tmp_path / "b"
    other = make_flow()
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    bj.save(other, second)
    shutil.copy(second / WEIGHTS, first / WEIGHTS)
    with pytest.raises(SaveError, match="come from different saves"):
        bj.load(first)
