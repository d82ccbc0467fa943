"""The command line and the run directory under bad arguments, bad files and bit rot:
one line on stderr, exit status 2, and nothing a user saved lost or silently wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runs import tiny

import bijective.cli as cli
from bijective.train.checkpoint import TENSORS, load_weights, save_weights

QUICK = {"steps": 20, "eval_every": 5, "checkpoint_every": 10}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("bijective: error: "), err
    for fragment in fragments:
        assert fragment in err, err


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A conditional tiny run, trained once; tests copy it before changing anything."""
    root = tmp_path_factory.mktemp("trained")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny(data={"conditional": True}, train=QUICK)))
    assert cli.main(["train", str(config), "--out", str(root / "run")]) == 0
    return root / "run"


@pytest.fixture
def run(trained, tmp_path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "run"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--label", "-1"], "--label -1: expected a class in 0..1"),
        (["--label", "8"], "--label 8: expected a class in 0..1"),
        (["--temperature", "nan"], "--temperature nan: expected a positive finite number"),
        (["--temperature", "inf"], "--temperature inf: expected a positive finite number"),
        (["--temperature", "0"], "--temperature 0.0: expected a positive finite number"),
        (["--temperature", "-1"], "--temperature -1.0: expected a positive finite number"),
        (["-n", "0"], "-n 0: expected a positive number of samples"),
        (["-n", "20000", "-o", "x.png"], "a .png shows at most 10,000; use .npy"),
    ],
)
def test_sample_arguments_are_validated(run, tmp_path, capsys, arguments, message) -> None:
    out = ["-o", str(tmp_path / "s.npy")] if "-o" not in arguments else []
    code, _, err = run_cli(capsys, "sample", run, *arguments, *out)
    one_line(code, err, message)
    assert not list(tmp_path.glob("s*.npy")) and not (Path.cwd() / "x.png").exists()


def test_sample_writes_into_new_directories_and_in_chunks(
    run, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(cli, "CHUNK", 7)  # 3 chunks per class, through a memory map
    out = tmp_path / "missing" / "dir" / "x.npy"
    code, _, _ = run_cli(capsys, "sample", run, "-n", "20", "-o", out)
    samples = np.load(out)
    assert code == 0 and samples.shape == (40, 2) and np.isfinite(samples).all()
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.npy"]  # no temporary left
    code, _, _ = run_cli(capsys, "sample", run, "-n", "5", "-o", tmp_path / "new" / "x.png")
    assert code == 0 and (tmp_path / "new" / "x.png").exists()


class _Labelled:
    """An experiment whose samples are their label, and which records chunk sizes."""

    conditional, classes = True, 3  # the Experiment protocol's members the CLI reads

    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None]] = []

    def sample(
        self, n: int, temperature: float = 1.0, label: int | None = None, *, guidance: float = 0.0
    ) -> torch.Tensor:
        self.calls.append((n, label))
        return torch.full((n, 2), float(label))


def test_chunks_cover_every_class_in_order(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(cli, "CHUNK", 4)
    fake = _Labelled()
    assert cli._sample_in_chunks(fake, fake.sample, 10, None, tmp_path / "x.npy") == 30
    assert fake.calls == [(size, k) for k in range(3) for size in (4, 4, 2)]
    rows = np.load(tmp_path / "x.npy")
    assert rows.shape == (30, 2) and (rows[:, 0] == np.repeat([0, 1, 2], 10)).all()
    fake = _Labelled()
    assert cli._sample_in_chunks(fake, fake.sample, 10, 2, tmp_path / "y.npy") == 10
    assert (np.load(tmp_path / "y.npy") == 2).all()


@pytest.mark.parametrize("name", ["../..", "/tmp/elsewhere", "a/b", ".hidden", "", "x" * 101])
def test_a_run_name_that_is_no_safe_slug_is_refused(tmp_path, capsys, monkeypatch, name) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny(name=name, train=QUICK)))
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "train", config)
    one_line(code, err, "name: expected a run name of letters, digits")
    assert snapshot(tmp_path) == before and not (tmp_path / "runs").exists()


def test_a_non_empty_directory_that_is_no_run_needs_force(tmp_path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny(train=QUICK)))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.json").write_text("my own results")
    (mine / "config.yaml.bak").write_text("keep me")
    code, _, err = run_cli(capsys, "train", config, "--out", mine)
    one_line(code, err, "not empty and not a run directory", "--force")
    assert (mine / "results.json").read_text() == "my own results"
    assert run_cli(capsys, "train", config, "--out", mine, "--force")[0] == 0
    assert (mine / "config.yaml.bak").read_text() == "keep me"
    code, _, err = run_cli(capsys, "train", config, "--out", mine, "--force")
    one_line(code, err, "already holds a run")  # --force never overwrites a run


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # inside the last tensor's bytes
    path.write_bytes(bytes(data))


def test_bit_rot_in_a_checkpoint_is_an_error_not_a_diverging_resume(run, capsys) -> None:
    _flip_a_byte(run / "checkpoint" / TENSORS)
    code, _, err = run_cli(capsys, "resume", run)
    one_line(code, err, "corrupt (its tensors do not match the SHA-256 saved with them)")


def test_a_corrupt_best_file_blocks_eval_but_not_resume(run, capsys) -> None:
    _flip_a_byte(run / "best.safetensors")
    code, _, err = run_cli(capsys, "eval", run)
    one_line(code, err, "best.safetensors: corrupt")
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["train"]["steps"] = 30
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    code, out, _ = run_cli(capsys, "resume", run)
    assert code == 0 and "kept as best.safetensors.corrupt" in out
    assert (run / "best.safetensors.corrupt").exists()
    load_weights(run / "best.safetensors")  # rewritten by the resumed run's validation
    assert run_cli(capsys, "eval", run)[0] == 0


@pytest.mark.filterwarnings("ignore:Flow.log_prob:RuntimeWarning")
def test_a_nan_result_is_a_non_zero_exit_and_strict_json(run, capsys) -> None:
    weights, metadata = load_weights(run / "best.safetensors")
    key = next(k for k, v in weights.items() if v.is_floating_point() and v.numel() > 1)
    weights[key] = torch.full_like(weights[key], float("nan"))
    save_weights(run / "best.safetensors", weights, metadata)  # valid file, NaN weights
    code, _, err = run_cli(capsys, "eval", run)
    one_line(code, err, "test_nll = nan", "null in results.json")
    results = json.loads((run / "results.json").read_text())  # strict: no NaN tokens
    assert results["test_nll"] is None and "NaN" not in (run / "results.json").read_text()


def test_garbage_metrics_are_set_aside_and_the_run_resumes(run, capsys) -> None:
    (run / "metrics.csv").write_bytes(b"\x00\xffgarbage,,\n1,2\n")
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["train"]["steps"] = 25
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    code, out, _ = run_cli(capsys, "resume", run)
    assert code == 0 and "kept as metrics.csv.corrupt" in out
    assert (run / "metrics.csv.corrupt").read_bytes().startswith(b"\x00\xffgarbage")
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and rows[-1].startswith("25,")


def test_a_state_json_with_wrong_content_is_one_line(run, capsys) -> None:
    state_path = run / "checkpoint" / "state.json"
    state = json.loads(state_path.read_text())
    state["progress"] = {"step": "ten", "unknown": 1}
    state_path.write_text(json.dumps(state))
    one_line(
        *run_cli(capsys, "resume", run)[::2], "the saved state is not what this version writes"
    )


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p.mkdir(), "a directory, not a config file"),
        (lambda p: p.write_bytes(b"name: \xff\xfe\n"), "not a UTF-8 text file"),
        (lambda p: p.write_text("name: a\nname: b\n"), "key 'name' given twice (line 2)"),
        (lambda p: p.write_text("- a\n- b\n"), "expected a mapping with name, data, model, train"),
    ],
)
def test_bad_config_files_are_one_line(tmp_path, capsys, setup, message) -> None:
    path = tmp_path / "c.yaml"
    setup(path)
    before = snapshot(tmp_path)
    one_line(*run_cli(capsys, "train", path)[::2], message)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.device=cuda:7", "train.device: cuda:7"),
        ("train.device=tpu", "train.device: expected auto, cpu, cuda or cuda:N"),
        ("train.steps=[1", "--set 'train.steps=[1': not a YAML value"),
    ],
)
def test_bad_devices_and_set_values_are_one_line(tmp_path, capsys, override, message) -> None:
    if override.endswith("cuda:7") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny(train=QUICK)))
    one_line(
        *run_cli(capsys, "train", config, "--set", override, "--out", tmp_path / "r")[::2], message
    )
    assert not (tmp_path / "r").exists()


def test_wrong_data_files_are_one_line(tmp_path, capsys) -> None:
    (tmp_path / "power").mkdir()
    np.save(tmp_path / "power" / "data.npy", np.zeros((100, 2)))  # the archive has 8 columns
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**tiny(train=QUICK), "data": {"name": "power"}}))
    code, _, err = run_cli(capsys, "train", config, "--data-dir", tmp_path, "--out", tmp_path / "r")
    one_line(code, err, "data set 'power': its files are not as expected")
    idx = tmp_path / "idx"
    idx.mkdir()
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (idx / name).write_bytes(b"\x00\x00\x08\x03\x00\x00")  # a header cut short
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (idx / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02")
    config.write_text(yaml.safe_dump({**tiny(train=QUICK), "data": {"name": "mnist"}}))
    code, _, err = run_cli(capsys, "train", config, "--data-dir", idx, "--out", tmp_path / "r")
    one_line(code, err, "IDX header of 3 dimensions is truncated or corrupt")
    assert not (tmp_path / "r").exists()


# Fuzzing: whatever bytes a config file or a run's files hold, the command line answers
# with one line and exit status 2, and writes nothing.

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_as_a_config_are_one_line(tmp_path, capsys, data) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "train", path, "--out", out)
    one_line(code, err)
    assert not out.exists()


WORD = st.text(alphabet="xyz", min_size=1, max_size=4)  # no number, no known name
KEYS = {  # each value breaks the tiny config, alone or with the others
    "name": st.text(alphabet="/. ", max_size=5),
    "data.name": st.sampled_from(["digits", "file", "nope", ""]),
    "data.n_train": st.integers(-5, 0),
    "data.noise": st.one_of(st.floats(max_value=-1e-6), st.just(float("nan")), WORD),
    "data.path": WORD,
    "model.name": st.sampled_from(["glow", "nade", "zzz"]),
    "model.transforms": st.one_of(st.integers(-3, 0), WORD),
    "model.hidden": st.lists(st.integers(-2, 0), min_size=1, max_size=3),
    "train.steps": st.one_of(st.integers(-3, 0), st.floats(max_value=0), WORD),
    "train.lr": st.one_of(st.floats(max_value=0), WORD),
    "train.device": WORD,
    "train.bogus": st.integers(),
    "target.name": WORD,
}


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(KEYS)), st.none(), min_size=1, max_size=3), st.data())
def test_broken_valid_looking_configs_are_one_line(tmp_path, capsys, keys, data) -> None:
    raw = tiny(train=QUICK)
    for key in keys:
        section, _, field = key.partition(".")
        value = data.draw(KEYS[key])
        if field:
            raw.setdefault(section, {})[field] = value
        else:
            raw[section] = value
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "train", path, "--out", out)
    one_line(code, err)  # every key drawn above breaks the config
    assert not out.exists()


@FUZZ
@given(
    st.sampled_from(["checkpoint/state.json", "checkpoint/tensors.safetensors", "config.yaml"]),
    st.binary(max_size=200),
)
def test_random_bytes_in_a_run_are_one_line(trained, tmp_path, capsys, target, data) -> None:
    run = tmp_path / "fuzzed"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(trained, run)
    (run / target).write_bytes(data)
    before = snapshot(run)
    code, _, err = run_cli(capsys, "resume", run)
    one_line(code, err)
    assert snapshot(run) == before
