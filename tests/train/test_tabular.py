"""Tables from the command line: `bijective train --data FILE.csv --model tabular`, the
NLL by column type, `sample -o rows.csv`, resume, the shipped tables, and bad tables as
one line with nothing written."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from bijective.cli import main

QUICK = ["--set", "train.steps=20", "--set", "train.eval_every=10", "--set", "train.batch=32"]


def write_table(path, n: int = 200) -> None:
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cut", "price", "carat", "angle"])
        for i in range(n):
            cut = ["Fair", "Good", "Ideal"][i % 3]
            carat = "" if i % 17 == 0 else f"{rng.lognormal(-0.5, 0.4):.3f}"
            writer.writerow([cut, int(rng.poisson(900)), carat, f"{rng.uniform(0, 360):.1f}"])


def test_a_csv_of_mixed_columns_trains_evaluates_and_samples_rows(tmp_path, capsys) -> None:
    data, run = tmp_path / "gems.csv", tmp_path / "run"
    write_table(data)
    schema = ["--set", "data.column_schema.angle.period=360"]
    main(["train", "--data", str(data), "--model", "tabular", "--out", str(run), *QUICK, *schema])
    results = json.loads((run / "results.json").read_text())
    parts = sum(results[f"test_nll_{k}"] for k in ("categorical", "count", "continuous"))
    assert parts == pytest.approx(results["test_nll"], rel=1e-5)
    main(["sample", str(run), "-n", "7", "-o", str(tmp_path / "rows.csv")])
    with open(tmp_path / "rows.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["cut", "price", "carat", "angle"] and len(rows) == 8
    for cut, price, carat, angle in rows[1:]:
        assert cut in {"Fair", "Good", "Ideal"} and int(price) >= 0
        assert carat == "" or float(carat) > 0
        assert 0 <= float(angle) < 360
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    printed = capsys.readouterr().out
    evaluated = json.loads(printed[printed.index("{") :])
    assert evaluated["test_nll"] == pytest.approx(results["test_nll"])


def test_a_shipped_table_trains_from_a_config(tmp_path) -> None:
    pytest.importorskip("palmerpenguins")
    run = tmp_path / "run"
    main(["train", "configs/tables/penguins-tabular.yaml", "--out", str(run), *QUICK])
    results = json.loads((run / "results.json").read_text())
    assert np.isfinite(results["test_nll"]) and results["data"] == "penguins"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nsf"], "column 'cut' is not numeric; model a table of mixed columns"),
        (["--set", "data.column_schema.shape.kind=count"], "'shape', which is not a column"),
        (["--set", "data.column_schema.price.upper=3"], "counts take a lower bound only"),
        (["--set", "model.layers=0"], "model.layers: Input should be greater than 0"),
    ],
)
def test_a_bad_table_or_option_is_one_line_and_writes_nothing(
    tmp_path, capsys, args, message
) -> None:
    data, run = tmp_path / "gems.csv", tmp_path / "run"
    write_table(data)
    model = [] if "--model" in args else ["--model", "tabular"]
    assert main(["train", "--data", str(data), *model, "--out", str(run), *QUICK, *args]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error
    assert not run.exists()


def test_samples_as_csv_need_a_table(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    main(["train", "configs/moons-maf.yaml", "--out", str(run), *QUICK])
    assert main(["sample", str(run), "-n", "3", "-o", str(tmp_path / "x.csv")]) == 2
    assert "not a table" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
