"""Files larger than memory: read in chunks (.npy by offset, .parquet by row group),
standardised in one pass, training batches a function of the step (exact resume), each
process reading its own rows, and training under a memory limit a third of the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from runs import tiny, whole_and_resumed

import bijective.train as T
from bijective.cli import main
from bijective.data import streaming
from bijective.data.streaming import RowFile, StepBatches, split_file, standardised


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK", 1000)


def rows(n: int = 5003, d: int = 3) -> np.ndarray:
    return (np.random.default_rng(0).normal(size=(n, d)) * [1, 2, 3] + [5, 0, -1]).astype(
        np.float32
    )


def test_npy_and_parquet_rows_are_read_by_range(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    x = rows()
    np.save(tmp_path / "x.npy", x)
    table = pa.table({str(i): x[:, i] for i in range(3)})
    parquet.write_table(table, tmp_path / "x.parquet", row_group_size=700)
    np.save(tmp_path / "x64.npy", x.astype(np.float64))
    for name in ("x.npy", "x.parquet", "x64.npy"):
        file = RowFile(tmp_path / name)
        assert (file.rows, file.features) == x.shape
        for a, b in ((0, 1), (690, 1410), (4999, 5003), (0, 5003)):
            np.testing.assert_array_equal(file.read(a, b), x[a:b])


def test_one_pass_statistics_equal_numpys(tmp_path, small_chunks) -> None:
    x = rows()
    np.save(tmp_path / "x.npy", x)
    train, val, test = standardised(split_file(tmp_path / "x.npy", 0.1, 0.1), "x")
    assert (len(train), len(val), len(test)) == (4053, 450, 500)
    fitted = x[: len(train)].astype(np.float64)
    np.testing.assert_allclose(train.shift, fitted.mean(0), rtol=1e-6)
    np.testing.assert_allclose(train.scale, fitted.std(0, ddof=1), rtol=1e-6)
    whole = torch.cat(list(test.chunks()))
    np.testing.assert_allclose(
        whole, (x[-500:] - train.shift.numpy()) / train.scale.numpy(), rtol=1e-5
    )


def test_a_nan_anywhere_is_an_error_naming_the_split(tmp_path) -> None:
    x = rows()
    x[-3, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(ValueError, match="the test split contains NaN"):
        standardised(split_file(tmp_path / "x.npy", 0.1, 0.1), "x")


def test_batches_depend_on_the_step_alone_cover_an_epoch_and_split_across_processes(
    tmp_path, small_chunks
) -> None:
    np.save(tmp_path / "x.npy", np.arange(4500, dtype=np.float32)[:, None])
    train = split_file(tmp_path / "x.npy", 0.05, 0.05)[0]  # 4050 rows: chunks 1000 x 4 + 50
    batches = StepBatches(train, batch=100, seed=3)
    assert batches.per_epoch == 40  # the 50-row chunk gives none, each other chunk 10
    epoch = torch.cat([batches[s] for s in range(1, 41)]).flatten()
    assert len(epoch) == 4000 and len(epoch.unique()) == 4000 and epoch.max() < 4050
    again = StepBatches(train, batch=100, seed=3)
    for s in (7, 41, 93):
        assert torch.equal(batches[s], again[s])
    assert not torch.equal(batches[41], batches[1])  # another epoch, another order
    parts = [StepBatches(train, batch=100, seed=3, rank=r, world=2)[5] for r in range(2)]
    assert torch.equal(torch.cat(parts), batches[5])


def test_a_streamed_run_trains_and_resumes_exactly(tmp_path, monkeypatch) -> None:
    """Killed at step 13 (last checkpoint 10) and resumed: the batches of steps 11.. are
    read again from the file, and the losses equal the uninterrupted run's."""
    x = rows(20_000)
    np.save(tmp_path / "x.npy", x)
    data = {"name": "file", "path": str(tmp_path / "x.npy"), "stream": True, "workers": 1}
    raw = tiny(train={"steps": 24, "eval_every": 8})
    parsed = T.parse_config({**raw, "data": data})
    whole, resumed, *losses = whole_and_resumed(parsed, tmp_path, monkeypatch, 13)
    assert losses[0] == losses[1] and len(losses[0]) == 24
    assert resumed["test_nll"] == whole["test_nll"]
    scale = x[:16_200].astype(np.float64).std(0, ddof=1)
    assert whole["test_nll_original_units"] == pytest.approx(
        whole["test_nll"] + float(np.log(scale).sum()), abs=1e-4
    )


def test_stream_options_that_cannot_apply_are_one_line(tmp_path, capsys) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    np.save(tmp_path / "x.npy", rows())
    cases = [
        (
            ["--data", str(tmp_path / "t.csv"), "--set", "data.stream=true"],
            "streaming reads .npy or .parquet",
        ),
        (
            [
                "--data",
                str(tmp_path / "x.npy"),
                "--set",
                "data.stream=true",
                "--set",
                "data.columns=[0]",
            ],
            "stream reads whole rows",
        ),
        (
            ["--data", str(tmp_path / "x.npy"), "--set", "data.workers=-1"],
            "data.workers: Input should be greater than or equal to 0",
        ),
    ]
    for args, message in cases:
        assert main(["train", *args, "--out", str(tmp_path / "run")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


LIMIT = 450 * 2**20  # the data segment (heap and anonymous maps) the training process gets
TRAIN = """
import resource, sys
resource.setrlimit(resource.RLIMIT_DATA, ({limit}, {limit}))
from bijective.cli import main
sets = ["data.stream={stream}", "data.workers=1", "data.val_fraction=0.002",
        "data.test_fraction=0.002", "train.steps=20", "train.eval_every=20", "train.batch=256"]
args = ["train", "--data", {path!r}, "--model", "maf", "--out", {out!r}]
sys.exit(main(args + [f"--set={{s}}" for s in sets]))
"""


def test_a_file_three_times_the_memory_limit_trains_streamed_and_not_in_memory(tmp_path) -> None:
    """Under RLIMIT_DATA = 450 MB, a 1.35 GB .npy: the in-memory path runs out of memory
    (the limit binds), the streamed one trains."""
    path = tmp_path / "big.npy"
    features = 8
    n = 3 * LIMIT // (4 * features)
    out = np.lib.format.open_memmap(path, "w+", np.float32, (n, features))
    rng = np.random.default_rng(0)
    for start in range(0, n, 1 << 20):
        stop = min(start + (1 << 20), n)
        out[start:stop] = rng.standard_normal((stop - start, features), dtype=np.float32)
    out.flush()
    del out
    assert path.stat().st_size >= 3 * LIMIT
    for stream in (False, True):
        script = TRAIN.format(
            limit=LIMIT,
            path=str(path),
            out=str(tmp_path / f"run{stream}"),
            stream=str(stream).lower(),
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        if stream:
            assert done.returncode == 0, done.stderr[-2000:]
            results = json.loads((tmp_path / "runTrue" / "results.json").read_text())
            assert results["test_nll"] == pytest.approx(features * 1.4189, abs=0.1)
        else:
            assert done.returncode != 0 and "memory" in done.stderr.lower(), done.stderr[-2000:]
