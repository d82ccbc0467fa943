"""A user's own data: every file kind read into splits, with one clear error for each
kind of bad file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bijective as bj
from bijective.data import files
from bijective.data.fingerprint import fingerprint


def _moons(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    angle = rng.uniform(0, np.pi, n)
    x = np.stack([np.cos(angle) + labels, np.sin(angle) * (1 - 2 * labels)], 1)
    return x + 0.05 * rng.normal(size=x.shape), labels


def _csv(path, header, rows) -> None:
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


def test_a_float64_npy_becomes_float32_splits_of_the_given_fractions(tmp_path) -> None:
    x, _ = _moons(1000)
    np.save(tmp_path / "x.npy", x)
    data = bj.data.load("file", path=str(tmp_path / "x.npy"), test_fraction=0.2, seed=3)
    assert data.train.x.dtype == torch.float32 and data.features == 2
    assert (len(data.train), len(data.val), len(data.test)) == (720, 80, 200)
    rows = torch.cat([data.train.x, data.val.x, data.test.x]) * data.scale + data.shift
    as_read = torch.from_numpy(x).float()
    # every row once, none lost or repeated: each read row has exactly one match
    close = torch.cdist(as_read.double(), rows.double()) < 1e-5
    assert (close.sum(0) == 1).all() and (close.sum(1) == 1).all()
    again = bj.data.load("file", path=str(tmp_path / "x.npy"), test_fraction=0.2, seed=3)
    assert torch.equal(again.test.x, data.test.x)  # seeded


def test_an_npy_file_is_memory_mapped_not_read_whole(tmp_path, monkeypatch) -> None:
    np.save(tmp_path / "x.npy", np.ones((50, 3)))
    calls = []
    load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(k) or load(*a, **k))
    monkeypatch.setattr(files, "_CHUNK", 7)  # converted in chunks of rows
    data = files.read_file(str(tmp_path / "x.npy"))
    assert calls[0]["mmap_mode"] == "r" and calls[0]["allow_pickle"] is False
    assert len(data.train) + len(data.val) + len(data.test) == 50


def test_a_csv_with_a_header_picks_columns_by_name_and_labels_any_values(tmp_path) -> None:
    x, labels = _moons(300)
    names = np.array(["down", "up"])[labels]
    _csv(
        tmp_path / "m.csv",
        ["a", "note", "b", "kind"],
        zip(x[:, 0], labels, x[:, 1], names, strict=True),
    )
    data = files.read_file(str(tmp_path / "m.csv"), columns=("a", "b"), label="kind")
    assert data.features == 2 and data.classes == 2
    # "down" -> 0, "up" -> 1 (sorted); the label follows its row through the shuffle
    rows = torch.cat([data.train.x, data.val.x, data.test.x])  # read_file: as in the file
    codes = torch.cat([data.train.labels, data.val.labels, data.test.labels])
    match = torch.cdist(torch.from_numpy(x), rows.double()).argmin(0)
    assert torch.equal(torch.from_numpy(labels)[match], codes)


def test_numeric_labels_sort_as_numbers(tmp_path) -> None:
    rows = [(i, [2, 10, 3][i % 3]) for i in range(30)]
    _csv(tmp_path / "t.csv", ["v", "y"], rows)
    data = files.read_file(str(tmp_path / "t.csv"), label="y")
    by_value = {}
    for split in (data.train, data.val, data.test):
        for v, y in zip(split.x[:, 0].tolist(), split.labels.tolist(), strict=True):
            by_value[[2, 10, 3][int(v) % 3]] = y
    assert by_value == {2: 0, 3: 1, 10: 2}


def test_npz_with_labels_and_with_fixed_splits(tmp_path) -> None:
    x, labels = _moons(200)
    np.savez(tmp_path / "a.npz", x=x, labels=labels)
    data = files.read_file(str(tmp_path / "a.npz"))
    assert data.classes == 2 and len(data.train) + len(data.val) + len(data.test) == 200
    np.savez(tmp_path / "b.npz", x_train=x[:100], x_val=x[100:150], x_test=x[150:])
    data = files.read_file(str(tmp_path / "b.npz"))
    assert torch.equal(data.test.x, torch.from_numpy(x[150:]).float())
    assert (len(data.train), len(data.val)) == (100, 50)


def test_parquet_through_pyarrow(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    x, labels = _moons(100)
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "cls": np.array(["p", "q"])[labels]})
    pq.write_table(table, tmp_path / "t.parquet")
    data = files.read_file(str(tmp_path / "t.parquet"), label="cls")
    assert data.features == 2 and data.classes == 2


def _png(path, array) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_a_png_directory_is_images_labelled_by_subdirectory(tmp_path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 6, 5), dtype=np.uint8)
    for i, image in enumerate(pixels):
        _png(tmp_path / ("cat" if i % 2 else "dog") / f"{i:02d}.png", image)
    data = files.read_file(str(tmp_path), val_fraction=0.25, test_fraction=0.2)
    assert data.image_shape == (1, 6, 5) and data.levels == 256 and data.classes == 2
    rows = torch.cat([data.train.x, data.val.x, data.test.x])
    assert sorted(map(tuple, rows.int().tolist())) == sorted(
        map(tuple, torch.from_numpy(pixels).reshape(20, -1).int().tolist())
    )
    rgb = tmp_path / "rgb"
    for i in range(10):
        _png(rgb / f"{i}.png", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    assert files.read_file(str(rgb)).image_shape == (3, 4, 4)


def test_integer_arrays_of_three_dimensions_are_images(tmp_path) -> None:
    np.save(tmp_path / "i.npy", np.arange(10 * 4 * 4).reshape(10, 4, 4) % 17)
    data = files.read_file(str(tmp_path / "i.npy"), val_fraction=0.2, test_fraction=0.2)
    assert data.image_shape == (1, 4, 4) and data.levels == 256


def test_training_on_own_images_uses_an_image_flow(tmp_path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "i.npy", rng.integers(0, 17, (64, 1, 4, 4)))
    raw = {
        "name": "own-images",
        "data": {"name": "file", "path": str(tmp_path / "i.npy")},
        "model": {"name": "glow", "scales": 1, "steps": 1, "channels": 8},
        "train": {"steps": 3, "batch": 8, "eval_every": 3},
    }
    results = bj.train.train(raw, tmp_path / "run", log=lambda *_: None)
    assert np.isfinite(results["test_bits_per_dim"])


@pytest.mark.parametrize(
    ("write", "options", "message"),
    [
        (lambda p: p.write_text("a,b\n1,2\n3\n"), {}, "row 3 has 1 fields, the header 2"),
        (lambda p: p.write_text("a,b\n1,x\n3,4\n"), {}, "column 'b' is not numeric"),
        (lambda p: p.write_text("a,b\n"), {}, "expected a header row and data rows"),
        (lambda p: p.write_bytes(b"a,b\n\xff\xfe,1\n"), {}, "not a UTF-8 text file"),
        (lambda p: p.write_text("a,b\n1,2\n3,4\n"), {"columns": ("c",)}, "no column 'c'"),
        (lambda p: p.write_text("a,b\n1,2\n3,4\n"), {"label": 5}, "column 5 out of range"),
        (
            lambda p: p.write_text("a,b\n1,2\n3,4\n"),
            {"columns": ("a",), "label": "a"},
            "the label column 'a' is also a feature",
        ),
    ],
)
def test_a_bad_csv_gets_one_line_naming_the_problem(tmp_path, write, options, message) -> None:
    path = tmp_path / "bad.csv"
    write(path)
    with pytest.raises(ValueError, match=message):
        files.read_file(str(path), **options)


def test_bad_numpy_files_and_kinds(tmp_path) -> None:
    np.save(tmp_path / "f.npy", np.zeros((5, 3, 3)))
    with pytest.raises(ValueError, match="images and must hold integer pixels"):
        files.read_file(str(tmp_path / "f.npy"))
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="not a readable NumPy file"):
        files.read_file(str(tmp_path / "junk.npy"))
    np.savez(tmp_path / "two.npz", a=np.zeros(3), b=np.zeros(3))
    with pytest.raises(ValueError, match="expected an array x"):
        files.read_file(str(tmp_path / "two.npz"))
    (tmp_path / "t.xlsx").write_text("")
    with pytest.raises(ValueError, match="unknown kind of file"):
        files.read_file(str(tmp_path / "t.xlsx"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        files.read_file(str(tmp_path / "missing.npy"))
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan]] * 20))
    with pytest.raises(ValueError, match="NaN or infinite"):
        bj.data.load("file", path=str(tmp_path / "nan.npy"))


def test_a_recorded_checksum_refuses_changed_data(tmp_path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, _moons(100)[0])
    digest = fingerprint(path)
    files.read_file(str(path), sha256=digest)
    np.save(path, _moons(100, seed=1)[0])
    with pytest.raises(ValueError, match="contents changed since the run recorded them"):
        files.read_file(str(path), sha256=digest)
