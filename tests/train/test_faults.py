"""Faults of the machine, injected: SIGTERM and Ctrl-C at random steps (the resumed run
ends with the uninterrupted run's weights, bit for bit), a second signal, a full disk at
every write point (monkeypatched writers, and a real small tmpfs where the test may mount
one), a read-only run directory, out of memory in a step and in the evaluation. Each
gives one line, the documented exit status, the last whole checkpoint and no temporary
files, and `resume` continues once the fault is gone."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from runs import tiny

from bijective.cli import main
from bijective.train import faults, loop, metrics, run
from bijective.train.checkpoint import load_checkpoint, load_weights
from bijective.train.state import Checkpoints

STEPS = 30  # tiny(): checkpoints every 10 steps, validation every 5


def config_file(tmp_path: Path, **train) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny(train=train)))
    return path


def steps_logged(run_dir: Path) -> list[int]:
    return [int(r.split(",")[0]) for r in (run_dir / "metrics.csv").read_text().splitlines()[1:]]


def checkpoint_step(run_dir: Path) -> int:
    return load_checkpoint(run_dir / "checkpoint")[1]["progress"]["step"]


def temporaries(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob("*") if ".tmp" in p.name]


def only_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_weights(a / "best.safetensors")[0], load_weights(b / "best.safetensors")[0]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    """The uninterrupted run."""
    tmp = tmp_path_factory.mktemp("whole")
    assert main(["train", str(config_file(tmp)), "--out", str(tmp / "run")]) == 0
    return tmp / "run"


def signal_during(monkeypatch, step: int, signum: int, times: int = 1) -> None:
    """The process receives `signum` during its `step`-th update; with times=2, a second
    one follows, delivered by calling the installed handler (two real signals sent back to
    back may merge into one: signals are not queued)."""
    update, calls = loop._update, []

    def signalled(*args):
        calls.append(1)
        if len(calls) == step:
            signal.pthread_kill(threading.main_thread().ident, signum)
            time.sleep(0.05)  # the handler runs
            if times == 2:
                signal.getsignal(signum)(signum, None)
        return update(*args)

    monkeypatch.setattr(loop, "_update", signalled)


CASES = [(signal.SIGTERM, s) for s in random.Random(0).sample(range(1, STEPS), 3)]
CASES += [(signal.SIGINT, 17)]


@pytest.mark.parametrize(("signum", "step"), CASES, ids=lambda v: str(int(v)))
def test_a_signal_stops_after_its_step_and_resume_ends_bit_for_bit_equal(
    tmp_path, monkeypatch, capsys, whole, signum, step
) -> None:
    path, out = config_file(tmp_path), tmp_path / "run"
    signal_during(monkeypatch, step, signum)
    assert main(["train", str(path), "--out", str(out)]) == 128 + signum
    name = signal.Signals(signum).name
    assert only_error_line(capsys) == (
        f"bijective: stopped at step {step} by {name}; `bijective resume {out}` continues"
    )
    assert checkpoint_step(out) == step and steps_logged(out) == list(range(1, step + 1))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    monkeypatch.undo()
    assert main(["resume", str(out)]) == 0
    assert steps_logged(out) == list(range(1, STEPS + 1))
    assert_same_weights(out, whole)


def test_a_second_signal_acts_at_once_and_the_last_checkpoint_stays_whole(
    tmp_path, monkeypatch, capsys, whole
) -> None:
    out = tmp_path / "run"
    signal_during(monkeypatch, 14, signal.SIGINT, times=2)  # Ctrl-C twice: KeyboardInterrupt
    assert main(["train", str(config_file(tmp_path)), "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert checkpoint_step(out) == 10 and not temporaries(out)
    monkeypatch.undo()
    assert main(["resume", str(out)]) == 0
    assert steps_logged(out) == list(range(1, STEPS + 1))
    assert_same_weights(out, whole)


def test_sigterm_from_outside_stops_the_command_with_a_checkpoint(tmp_path) -> None:
    path, out = config_file(tmp_path, steps=5000, checkpoint_every=1000), tmp_path / "run"
    command = [sys.executable, "-m", "bijective", "train", str(path), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (
        (out / "metrics.csv").exists() and len(steps_logged(out)) > 50
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == 143, stderr
    step = checkpoint_step(out)
    assert 50 < step < 5000 and steps_logged(out) == list(range(1, step + 1))
    assert stderr.strip().splitlines()[-1] == (
        f"bijective: stopped at step {step} by SIGTERM; `bijective resume {out}` continues"
    )


def test_checkpoints_are_also_written_by_the_clock(monkeypatch) -> None:
    now = [0.0]
    monkeypatch.setattr("bijective.train.state.time.monotonic", lambda: now[0])
    every = Checkpoints(every=500, minutes=2)
    assert not every.due(1, final=False)
    now[0] = 119.0
    assert not every.due(2, final=False)
    now[0] = 121.0
    assert every.due(3, final=False)  # two minutes since the start
    assert not every.due(4, final=False)  # the clock starts again
    assert every.due(500, final=False) and every.due(7, final=True)
    now[0] = 1e6
    assert not Checkpoints(every=500, minutes=0).due(9, final=False)  # 0: off


# A full disk, at each place a run writes ----------------------------------------------


def no_space(path: object = "") -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def fail_atomic_writes(monkeypatch, module, matches, after: int = 0) -> None:
    """`module.write_atomically` runs out of space, after writing half the data into the
    temporary, for paths `matches(path)`, from the (after + 1)-th such write."""
    real, seen = faults.write_atomically, []

    def full(path, data):
        if not matches(path) or len(seen) < after:
            seen.append(path) if matches(path) else None
            return real(path, data)

        def half(f):
            f.write(b"\0" * 64)
            raise no_space()

        return real(path, half)

    monkeypatch.setattr(module, "write_atomically", full)


def fail_metrics_rows(monkeypatch, after: int) -> None:
    """metrics.csv's file takes `after` rows, then half a row before the disk is full."""
    real_open, rows = open, []

    class Filling:
        def __init__(self, file):
            self.file = file

        def write(self, data):
            rows.append(1)
            if len(rows) > after:
                self.file.write(data[: len(data) // 2])
                raise no_space()
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

    def opening(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        return Filling(file) if "a" in mode else file

    monkeypatch.setattr(metrics, "open", opening, raising=False)


def fail_plots(monkeypatch) -> None:
    import matplotlib.figure

    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise no_space(path)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)


from bijective.train import checkpoint as checkpoint_module  # noqa: E402

WRITE_POINTS = {
    # where, how it fails, the file the one line names, the checkpoint left, steps logged
    "checkpoint": (
        lambda m: fail_atomic_writes(m, checkpoint_module, lambda p: "checkpoint" in str(p), 2),
        "checkpoint.tmp/tensors.safetensors",
        10,
    ),
    "best weights": (
        lambda m: fail_atomic_writes(m, checkpoint_module, lambda p: p.name.startswith("best"), 2),
        "best.safetensors",
        10,
    ),
    "metrics": (lambda m: fail_metrics_rows(m, 13), "metrics.csv", 10),
    "results": (
        lambda m: fail_atomic_writes(m, run, lambda p: p.name == "results.json"),
        "results.json",
        30,
    ),
    "plots": (fail_plots, "plots", 30),
}


@pytest.mark.parametrize("point", WRITE_POINTS)
def test_a_full_disk_is_one_line_and_resume_continues_once_space_is_freed(
    tmp_path, monkeypatch, capsys, point
) -> None:
    inject, named, kept = WRITE_POINTS[point]
    out = tmp_path / "run"
    inject(monkeypatch)
    assert main(["train", str(config_file(tmp_path)), "--out", str(out)]) == 2
    line = only_error_line(capsys)
    assert line.startswith(f"bijective: error: {out / named}: no space left on the device ("), line
    assert "bijective resume RUN_DIR" in line
    assert checkpoint_step(out) == kept and not temporaries(out)
    assert steps_logged(out) == list(range(1, len(steps_logged(out)) + 1))  # no torn row
    monkeypatch.undo()  # space freed
    if kept < STEPS:
        assert main(["resume", str(out)]) == 0
    else:  # training was over: what is left is the evaluation and the plots
        assert main(["eval", str(out)]) == 0
    assert steps_logged(out) == list(range(1, STEPS + 1)) and not temporaries(out)


def test_a_full_disk_while_writing_samples_leaves_no_file(
    tmp_path, monkeypatch, capsys, whole
) -> None:
    real = np.save

    def full(file, array, *args, **kwargs):
        real(file, array[: len(array) // 2])  # part of it, then the disk is full
        raise no_space()

    monkeypatch.setattr(np, "save", full)
    out = tmp_path / "samples.npy"
    assert main(["sample", str(whole), "-n", "100", "-o", str(out)]) == 2
    assert only_error_line(capsys).startswith(f"bijective: error: {out}: no space left")
    assert list(tmp_path.iterdir()) == []


def mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()[:80]})")


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "size=256k")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def test_a_real_full_disk_then_resume_after_freeing_space(tmp_path, small_disk, capsys) -> None:
    """A 256 KB filesystem: the run fills it (wider layers: ~90 KB a checkpoint), stops
    with one line and its last whole checkpoint; grown to 64 MB, it resumes to the end."""
    raw = tiny(model={"hidden": [64, 64]}, train={"steps": 60})
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = small_disk / "run"
    assert main(["train", str(path), "--out", str(out)]) == 2
    line = only_error_line(capsys)
    assert "no space left on the device" in line and str(out) in line, line
    kept = checkpoint_step(out) if (out / "checkpoint").exists() else 0
    assert not temporaries(out)
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    assert main(["resume", str(out)] if kept else ["train", str(path), "--out", str(out)]) == 0
    assert steps_logged(out) == list(range(1, 61))


# A read-only run directory, out of memory -----------------------------------------------


def test_a_read_only_run_directory_is_one_line_before_training(tmp_path, capsys) -> None:
    place = tmp_path / "ro"
    mount_tmpfs(place, "size=1m,ro")
    try:
        assert main(["train", str(config_file(tmp_path)), "--out", str(place / "run")]) == 2
        line = only_error_line(capsys)
        assert line == f"bijective: error: {place}: cannot write here (Read-only file system); " + (
            "choose another place"
        )
    finally:
        subprocess.run(["umount", str(place)], check=False)


def test_a_forbidden_run_directory_is_refused_before_training_and_on_resume(
    tmp_path, monkeypatch, capsys, whole
) -> None:
    def forbidden(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(faults.tempfile, "mkstemp", forbidden)
    out = tmp_path / "run"
    assert main(["train", str(config_file(tmp_path)), "--out", str(out)]) == 2
    assert only_error_line(capsys) == (
        f"bijective: error: {tmp_path}: cannot write here (Permission denied); choose another place"
    )
    assert not out.exists()
    before = {p: p.stat().st_mtime_ns for p in whole.rglob("*")}
    assert main(["resume", str(whole)]) == 2
    assert "cannot write here" in only_error_line(capsys)
    assert {p: p.stat().st_mtime_ns for p in whole.rglob("*")} == before


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"),
    ],
    ids=["cuda", "cpu"],
)
def test_out_of_memory_in_a_step_names_the_batch(tmp_path, monkeypatch, capsys, error) -> None:
    update, calls = loop._update, []

    def step(*args):
        calls.append(1)
        if len(calls) == 13:
            raise error
        return update(*args)

    monkeypatch.setattr(loop, "_update", step)
    out = tmp_path / "run"
    assert main(["train", str(config_file(tmp_path)), "--out", str(out)]) == 2
    assert only_error_line(capsys) == (
        "bijective: error: out of memory in training step 13 (train.batch 64); lower "
        f"train.batch and resume: {out} keeps its last checkpoint"
    )
    assert checkpoint_step(out) == 10


def test_out_of_memory_in_the_evaluation_names_the_eval_batch(
    tmp_path, monkeypatch, capsys
) -> None:
    from bijective.train.kinds.density import DensityExperiment

    def results(self, progress):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(DensityExperiment, "results", results)
    out = tmp_path / "run"
    assert main(["train", str(config_file(tmp_path)), "--out", str(out)]) == 2
    assert only_error_line(capsys) == (
        f"bijective: error: out of memory evaluating (the trained weights are kept in "
        f"{out / 'best.safetensors'}); lower train.eval_batch, then `bijective eval {out}`"
    )
    assert load_weights(out / "best.safetensors")[0] and checkpoint_step(out) == STEPS


def test_train_with_resume_continues_a_stopped_run_and_starts_a_new_one(
    tmp_path, monkeypatch, whole
) -> None:
    """`bijective train CONFIG --out RUN --resume`: the one command a requeued job repeats."""
    path, out = config_file(tmp_path), tmp_path / "run"
    signal_during(monkeypatch, 12, signal.SIGTERM)
    assert main(["train", str(path), "--out", str(out), "--resume"]) == 143  # starts it
    monkeypatch.undo()
    assert main(["train", str(path), "--out", str(out), "--resume"]) == 0  # continues it
    assert steps_logged(out) == list(range(1, STEPS + 1))
    assert_same_weights(out, whole)
