"""The `bijective` command, run in-process (and once as `python -m bijective`)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from runs import tiny

from bijective.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny(data={"conditional": True})))
    return path


def test_train_eval_and_sample_a_run(tmp_path, capsys, config_file) -> None:
    run = tmp_path / "run"
    code, out, _ = run_cli(
        capsys, "train", str(config_file), "--out", str(run), "--set", "train.steps=20"
    )
    assert code == 0 and "test NLL" in out
    results = json.loads((run / "results.json").read_text())
    assert results["steps"] == 20
    assert {p.name for p in (run / "plots").iterdir()} == {"curves.png", "samples.png"}
    code, out, _ = run_cli(capsys, "eval", str(run))
    assert code == 0 and json.loads(out[out.index("{") :])["test_nll"] == pytest.approx(
        results["test_nll"]
    )
    code, _, _ = run_cli(
        capsys, "sample", str(run), "-n", "7", "--label", "1", "-o", str(tmp_path / "s.npy")
    )
    assert code == 0 and np.load(tmp_path / "s.npy").shape == (7, 2)
    code, _, _ = run_cli(
        capsys, "sample", str(run), "-n", "5", "--temperature", "0.5", "-o", str(tmp_path / "s.png")
    )
    assert code == 0 and (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("override", "message"),
    [("train.stpes=3", "train.stpes: unknown field"), ("model.name=x", "unknown architecture 'x'")],
)
def test_a_bad_config_is_one_line_and_writes_nothing(
    tmp_path, capsys, config_file, override, message
) -> None:
    code, out, err = run_cli(
        capsys, "train", str(config_file), "--out", str(tmp_path / "run"), "--set", override
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("bijective: error: ") and message in err
    assert not (tmp_path / "run").exists()


def test_a_config_the_data_cannot_satisfy_writes_nothing(tmp_path, capsys, config_file) -> None:
    code, _, err = run_cli(
        capsys,
        "train",
        str(config_file),
        "--out",
        str(tmp_path / "run"),
        "--set",
        "data.name=checkerboard",
    )
    assert code == 2 and "has no labels to condition on" in err and not (tmp_path / "run").exists()


def test_data_the_config_cannot_reach_is_one_line(tmp_path, capsys) -> None:
    path = tmp_path / "power.yaml"
    path.write_text(
        yaml.safe_dump(tiny(data={"name": "power", "n_train": None, "n_val": None, "n_test": None}))
    )
    code, _, err = run_cli(capsys, "train", str(path), "--out", str(tmp_path / "run"))
    assert code == 2 and err.count("\n") == 1 and "give data_dir (--data-dir)" in err
    code, _, err = run_cli(
        capsys, "train", str(path), "--out", str(tmp_path / "run"), "--data-dir", str(tmp_path)
    )
    assert code == 2 and "power/data.npy not found" in err and not (tmp_path / "run").exists()


def test_a_corrupt_checkpoint_is_one_line_and_keeps_the_files(
    tmp_path, capsys, config_file
) -> None:
    run = tmp_path / "run"
    assert (
        run_cli(capsys, "train", str(config_file), "--out", str(run), "--set", "train.steps=10")[0]
        == 0
    )
    (run / "best.safetensors").write_bytes(b"not safetensors")
    code, _, err = run_cli(capsys, "eval", str(run))
    assert code == 2 and "best.safetensors: not a readable safetensors file" in err
    assert (run / "best.safetensors").read_bytes() == b"not safetensors"
    code, _, err = run_cli(capsys, "eval", str(tmp_path))
    assert code == 2 and "not a run directory" in err


def test_list_and_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bijective", "list"], capture_output=True, text=True, check=True
    )
    assert (
        "maf" in result.stdout
        and "8gaussians" in result.stdout
        and "SplineTransformer" in result.stdout
    )


def test_list_shows_the_allowed_values_of_every_literal_option(capsys) -> None:
    main(["list"])
    out = capsys.readouterr().out
    assert "mixing (reverse|random|lu)" in out
    assert "prior (learned|standard), coupling (affine|additive)" in out
    assert "posterior (diagonal|planar|radial|sylvester|iaf)" in out


def test_guided_sampling_of_a_conditional_tarflow(tmp_path, capsys, config_file) -> None:
    """`sample --guidance w` on a class-conditional image TarFlow trained with its context
    dropped; a weight the run cannot use is one line and writes nothing."""
    run, out = tmp_path / "tarflow", tmp_path / "guided.npy"
    options = dict(name="image-tarflow", blocks=1, patch=2, width=8, depth=1, heads=2)
    config = {
        "name": "guided",
        "data": {"name": "digits", "conditional": True},
        "model": {**options, "guidance_dropout": 0.5},
        "train": {"steps": 2, "batch": 16, "eval_every": 2, "importance_samples": 2},
    }
    (tmp_path / "guided.yaml").write_text(yaml.safe_dump(config))
    code, _, _ = run_cli(capsys, "train", str(tmp_path / "guided.yaml"), "--out", str(run))
    assert code == 0
    code, _, _ = run_cli(capsys, "sample", str(run), "-n", "4", "--label", "3", "--guidance",
                         "2", "-o", str(out))  # fmt: skip
    samples = np.load(out)
    assert code == 0 and samples.shape == (4, 64) and set(np.unique(samples)) <= set(range(17))
    out.unlink()
    plain = tmp_path / "plain"
    run_cli(capsys, "train", str(config_file), "--out", str(plain), "--set", "train.steps=2")
    for where, weight, message in [
        (run, "inf", "--guidance inf: expected a finite weight"),
        (plain, "1", "was not trained for classifier-free guidance"),
    ]:
        code, _, err = run_cli(capsys, "sample", str(where), "--guidance", weight, "-o", str(out))
        assert code == 2 and err.count("\n") == 1 and message in err and not out.exists()
