"""The column schema of a table: inferred kinds, categories, bounds and missing entries;
encoding and decoding; and bad tables, each one error naming the column and the fix."""

import math

import numpy as np
import pytest

from bijective.data.schema import infer, table_dataset
from bijective.data.tables import as_table, csv_text, read_table

ROWS = {
    "colour": ["red", "blue", None, "red", "blue", "red"],
    "year": [2007, 2008, 2009, 2007, 2008, 2008],
    "count": [3, 120, 0, 45, 7, 19],
    "size": [1.5, 2.25, None, 0.75, 3.0, 1.0],
    "angle": [10.0, 350.0, 180.0, 90.0, 45.0, 300.0],
    "shift": [-1.5, 2.0, 0.5, -0.25, 1.0, 0.0],
}


def test_kinds_categories_bounds_and_missing_entries_are_inferred():
    schema = infer(as_table(ROWS), overrides={"angle": {"period": 360.0}}, max_categories=4)
    spec = {c.name: c for c in schema.columns}
    assert spec["colour"].kind == "categorical" and spec["colour"].categories == ("blue", "red")
    assert spec["colour"].missing and not spec["year"].missing
    assert spec["year"].kind == "categorical" and spec["year"].numeric  # 3 integer values
    assert spec["year"].categories == ("2007", "2008", "2009")
    assert spec["count"].kind == "count" and spec["count"].lower == 0.0
    assert spec["size"].kind == "continuous" and spec["size"].lower == 0.0 and spec["size"].missing
    assert spec["angle"].period == 360.0 and spec["angle"].lower is None  # not "positive"
    assert spec["shift"].lower is None and spec["shift"].upper is None
    logs = np.log([1.5, 2.25, 0.75, 3.0, 1.0])
    assert spec["size"].shift == pytest.approx(logs.mean())
    assert spec["size"].scale == pytest.approx(logs.std(ddof=1))


def test_encoding_then_decoding_gives_the_table_back_and_csv_round_trips(tmp_path):
    table = as_table(ROWS)
    schema = infer(table)
    rows = schema.encode(table)
    assert rows.shape == (6, 6) and math.isnan(rows[2, 0]) and rows[0, 0] == 1.0
    back = schema.decode(rows)
    for name in table.names:
        assert list(back.column(name)) == list(table.column(name)), name
    assert isinstance(back.column("year")[0], int) and isinstance(back.column("count")[0], int)
    (tmp_path / "t.csv").write_text(csv_text(back))
    again = read_table(tmp_path / "t.csv")
    np.testing.assert_array_equal(schema.encode(again), rows)


def test_samples_are_written_to_the_decimal_places_of_the_data():
    schema = infer(
        as_table({"a": [1.25, 2.5, 0.75], "b": [1.0, 2.0, 3.5], "c": [0.1234567, 1.0, 2.0]})
    )
    assert [c.decimals for c in schema.columns] == [2, 1, None]
    back = schema.decode(np.array([[1.23456, 2.04, 0.1234567891]]))
    assert list(back.columns[0]) == [1.23] and list(back.columns[1]) == [2.0]
    assert list(back.columns[2]) == [0.1234567891]


def test_a_schema_describes_all_rows_but_is_fitted_on_train_only():
    data = table_dataset("t", as_table({k: v * 10 for k, v in ROWS.items()}), seed=1)
    assert data.schema is not None and len(data.train) + len(data.val) + len(data.test) == 60
    train = data.schema.decode(data.train.x.double().numpy())
    sizes = np.array([v for v in train.column("size") if v is not None])
    assert data.schema.columns[3].shift == pytest.approx(np.log(sizes).mean(), rel=1e-6)


@pytest.mark.parametrize(
    ("rows", "overrides", "message"),
    [
        ({"a": [1.0, 1.0, 1.0], "b": [0.1, 0.2, 0.3]}, None, "'a' has one distinct value"),
        ({"a": ["x", "x"], "b": [0.1, 0.2]}, None, "'a' has one distinct value"),
        ({"a": [None, None], "b": [0.1, 0.2]}, None, "'a' is missing in every row"),
        ({"a": ["3", "x", "4"], "b": [0.1, 0.2, 0.3]}, None, "'a' mixes numbers and text"),
        ({"a": [], "b": []}, None, "empty"),
        ({"b": [0.1, 0.2, 0.3]}, {"c": {"kind": "count"}}, "'c', which is not a column"),
        ({"b": [0.1, 0.2, 0.3]}, {"b": {"bound": 1}}, "no field 'bound'"),
        ({"b": [0.1, 0.2, 0.3]}, {"b": {"kind": "count"}}, "holds fractions"),
        ({"b": [0.1, 0.2, 0.3]}, {"b": {"lower": 1.0, "upper": 0.0}}, "lower must be below"),
        ({"b": ["u", "v"]}, {"b": {"kind": "continuous"}}, "holds text"),
    ],
)
def test_a_bad_table_is_one_error_naming_the_column(rows, overrides, message):
    with pytest.raises(ValueError, match=message):
        infer(as_table(rows), overrides=overrides)


def test_a_mixed_column_set_to_categorical_keeps_every_entry_as_a_category():
    schema = infer(as_table({"a": ["3", "x", "4"]}), overrides={"a": {"kind": "categorical"}})
    assert schema.columns[0].categories == ("3", "4", "x")


def test_encoding_new_rows_names_what_does_not_fit():
    rows = {"c": ["a", "b", "a"], "y": [0.5, 1.5, 2.5], "n": [1, 20, 300]}
    schema = infer(as_table(rows), max_categories=2)
    cases = [
        ({"c": ["z"], "y": [1.0], "n": [2]}, "category 'z', unseen"),
        ({"c": [None], "y": [1.0], "n": [2]}, "'c' has missing entries but had none"),
        ({"c": ["a"], "y": [-1.0], "n": [2]}, "'y' has the value -1 outside its support"),
        ({"c": ["a"], "y": [1.0], "n": [2.5]}, "'n' holds counts"),
        ({"c": ["a"], "n": [2]}, "no column 'y'"),
        ({"c": ["a"], "y": ["big"], "n": [2]}, "'y' is numeric but holds text"),
    ]
    for rows, message in cases:
        with pytest.raises(ValueError, match=message):
            schema.encode(as_table(rows))
    outside = schema.encode(as_table({"c": ["a"], "y": [-1.0], "n": [2]}), bounds=False)
    assert outside[0, 1] == -1.0
