"""Data-parallel training under torchrun (2 CPU processes, gloo): the same run as one
process at the same global batch, exact resume, one line for a batch that does not
divide, and a killed rank that `bijective resume` recovers from."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from runs import tiny

from bijective.cli import main
from bijective.train.checkpoint import load_checkpoint, load_weights

TRAIN = {"steps": 20, "batch": 64, "eval_every": 5, "checkpoint_every": 10}


def torchrun(
    *argv: str, cwd: Path, wait: bool = True
) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += ["-m", "bijective", *map(str, argv)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if not wait:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def losses(run: Path) -> np.ndarray:
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    return np.array([float(r.split(",")[1]) for r in rows])


def config(tmp_path: Path, **train) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny(train={**TRAIN, **train})))
    return path


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_weights(a)[0], load_weights(b)[0]
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=1e-5, rtol=1e-5)


def logged_steps(run: Path) -> list[int]:
    return [int(r.split(",")[0]) for r in (run / "metrics.csv").read_text().splitlines()[1:]]


def signal_a_rank(launcher: subprocess.Popen, run: Path, after: int, signum: int) -> None:
    """Once `run` has logged `after` steps, `signum` to the last of the launcher's worker
    processes (the test skips if the run ended first)."""
    deadline = time.time() + 120
    while time.time() < deadline:
        rows = (
            (run / "metrics.csv").read_text().count("\n") if (run / "metrics.csv").exists() else 0
        )
        if rows > after:
            break
        time.sleep(0.05)
    workers = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True)
    pids = [int(p) for p in workers.stdout.split()]
    if len(pids) < 2:
        launcher.kill()
        pytest.skip("the run finished before a rank could be signalled")
    os.kill(pids[-1], signum)


def test_two_processes_equal_one_at_the_same_global_batch(tmp_path) -> None:
    path = config(tmp_path)
    done = torchrun("train", path, "--out", tmp_path / "ddp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run directory:") == 1  # rank 0 alone reports
    assert main(["train", str(path), "--out", str(tmp_path / "one")]) == 0
    np.testing.assert_allclose(losses(tmp_path / "ddp"), losses(tmp_path / "one"), rtol=1e-5)
    assert_same_weights(
        tmp_path / "ddp" / "best.safetensors", tmp_path / "one" / "best.safetensors"
    )
    state = load_checkpoint(tmp_path / "ddp" / "checkpoint")[1]
    assert state["progress"]["step"] == 20


def test_resume_under_two_processes_continues_exactly(tmp_path) -> None:
    path = config(tmp_path, steps=10)
    assert torchrun("train", path, "--out", tmp_path / "ddp", cwd=tmp_path).returncode == 0
    run_config = yaml.safe_load((tmp_path / "ddp" / "config.yaml").read_text())
    run_config["train"]["steps"] = 20  # constant learning rate: as if it had been stopped at 10
    (tmp_path / "ddp" / "config.yaml").write_text(yaml.safe_dump(run_config))
    done = torchrun("resume", tmp_path / "ddp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(["train", str(config(tmp_path)), "--out", str(tmp_path / "one")]) == 0
    np.testing.assert_allclose(losses(tmp_path / "ddp"), losses(tmp_path / "one"), rtol=1e-5)
    assert_same_weights(
        tmp_path / "ddp" / "best.safetensors", tmp_path / "one" / "best.safetensors"
    )


def test_a_batch_that_does_not_divide_is_one_line_and_writes_nothing(tmp_path) -> None:
    done = torchrun("train", config(tmp_path, batch=63), "--out", tmp_path / "ddp", cwd=tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("bijective: error:")]
    assert errors and set(errors) == {
        "bijective: error: train.batch: 63 rows do not divide into 2 processes; use a multiple "
        "of 2 (each process takes batch / 2 rows)"
    }
    assert not (tmp_path / "ddp").exists()


def test_a_killed_rank_stops_the_run_and_resume_finishes_it(tmp_path) -> None:
    path = config(tmp_path, steps=600, eval_every=100, checkpoint_every=50)
    run = tmp_path / "ddp"
    launcher = torchrun("train", path, "--out", run, cwd=tmp_path, wait=False)
    signal_a_rank(launcher, run, after=130, signum=signal.SIGKILL)  # one rank dies mid-run
    launcher.wait(timeout=120)
    assert launcher.returncode != 0
    step = load_checkpoint(run / "checkpoint")[1]["progress"]["step"]  # readable, not torn
    assert 100 <= step < 600
    done = torchrun("resume", run, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = logged_steps(run)
    assert steps == list(range(1, 601))  # every step once: rows past the checkpoint dropped
    assert load_checkpoint(run / "checkpoint")[1]["progress"]["step"] == 600


def test_actnorm_initialises_from_the_global_batch(tmp_path) -> None:
    """ActNorm's data-dependent initialisation sees the statistics of the whole global
    batch, not each process's shard (RealNVP has ActNorm): the first loss, computed right
    after it, equals one process's (with shard statistics it was 2.759 against 2.785).
    Later steps are not compared: at the initialisation ActNorm's gradients are zero up to
    rounding, and Adam's first step, about lr * sign(g), turns that rounding into steps
    of size lr."""
    path = tmp_path / "realnvp.yaml"
    model = {"name": "realnvp", "transforms": 2, "hidden": [16]}
    path.write_text(yaml.safe_dump(tiny(model=model, train={**TRAIN, "steps": 1})))
    done = torchrun("train", path, "--out", tmp_path / "ddp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(["train", str(path), "--out", str(tmp_path / "one")]) == 0
    np.testing.assert_allclose(losses(tmp_path / "ddp"), losses(tmp_path / "one"), rtol=1e-5)


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step(tmp_path) -> None:
    """SIGTERM to one process: the processes agree on it at the end of the step, rank 0
    writes that step's checkpoint, every process exits with 143 naming the same step, and
    resume under torchrun finishes with every step logged once."""
    path = config(tmp_path, steps=600, eval_every=100, checkpoint_every=1000)
    run = tmp_path / "ddp"
    launcher = torchrun("train", path, "--out", run, cwd=tmp_path, wait=False)
    signal_a_rank(launcher, run, after=50, signum=signal.SIGTERM)
    stderr = launcher.communicate(timeout=120)[1]
    step = load_checkpoint(run / "checkpoint")[1]["progress"]["step"]
    # the two processes' lines can interleave on the shared stderr: count the messages
    stopped = re.findall(r"bijective: stopped at step (\d+) by SIGTERM", stderr)
    assert stopped == [str(step)] * 2, stderr
    steps = logged_steps(run)
    assert 50 < step < 600 and steps == list(range(1, step + 1))
    done = torchrun("resume", run, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = logged_steps(run)
    assert steps == list(range(1, 601))


def test_two_processes_streaming_a_file_equal_one_each_reading_its_own_rows(tmp_path) -> None:
    """data.stream: each process reads only its half of every batch from the file."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(6000, 2)).astype(np.float32))
    raw = tiny(train=TRAIN)
    raw["data"] = {"name": "file", "path": str(tmp_path / "x.npy"), "stream": True}
    path = tmp_path / "stream.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = torchrun("train", path, "--out", tmp_path / "ddp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(["train", str(path), "--out", str(tmp_path / "one")]) == 0
    np.testing.assert_allclose(losses(tmp_path / "ddp"), losses(tmp_path / "one"), rtol=1e-5)
