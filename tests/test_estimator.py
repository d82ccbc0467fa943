"""bj.DensityEstimator: scikit-learn's estimator checks, DataFrames with mixed columns and
missing entries, model selection, anomaly scores, and bad input."""

import math

import numpy as np
import pytest

import bijective as bj

sklearn = pytest.importorskip("sklearn")
pandas = pytest.importorskip("pandas")

from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

SMALL = {
    "tabular": {"hidden": [8], "categorical_hidden": [8], "bins": 3},
    "maf": {"transforms": 1, "hidden": [8]},
}


@pytest.mark.parametrize("model", list(SMALL))
def test_scikit_learns_estimator_checks_pass(model):
    estimator = bj.DensityEstimator(model, options=SMALL[model], steps=3, batch=16)
    results = check_estimator(estimator, on_fail=None)
    failed = [
        (r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"
    ]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 35


def frame(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    kind = rng.choice(["small", "large"], n)
    size = np.where(kind == "large", 5.0, 1.0) * rng.lognormal(0, 0.3, n)
    count = rng.poisson(np.where(kind == "large", 20, 3))
    size[rng.random(n) < 0.05] = np.nan
    return pandas.DataFrame({"kind": kind, "size": size, "count": count})


def test_a_dataframe_with_missing_entries_fits_scores_and_samples():
    data = frame()
    est = bj.DensityEstimator(options=SMALL["tabular"], steps=300, lr=3e-3).fit(data)
    scores = est.score_samples(data)
    assert scores.shape == (300,) and np.isfinite(scores).all()
    assert est.score(data) == pytest.approx(scores.mean())
    drawn = est.sample(200, random_state=0)
    assert list(drawn.columns) == ["kind", "size", "count"]
    assert set(drawn["kind"]) <= {"small", "large"} and drawn["count"].dropna().ge(0).all()
    # It learnt the dependence: large rows are larger, in the samples too.
    sizes = drawn.groupby("kind")["size"].median()
    assert sizes["large"] > 2 * sizes["small"]
    # Fitting again with the same seed gives the same estimator.
    again = bj.DensityEstimator(options=SMALL["tabular"], steps=300, lr=3e-3).fit(data)
    np.testing.assert_array_equal(again.score_samples(data), scores)


def test_an_anomaly_scores_lower_and_a_value_outside_the_support_is_minus_infinity():
    data = frame()
    est = bj.DensityEstimator(options=SMALL["tabular"], steps=300, lr=3e-3).fit(data)
    odd = pandas.DataFrame(
        {"kind": ["small", "small", "small"], "size": [1.0, 40.0, -1.0], "count": [3, 3, 3]}
    )
    scores = est.score_samples(odd)
    assert scores[1] < scores[0] - 5 and scores[2] == -math.inf
    with pytest.raises(ValueError, match="category 'huge', unseen"):
        est.score_samples(odd.assign(kind="huge"))


def test_grid_search_and_cross_validation_work():
    x = np.random.default_rng(0).normal(size=(120, 2))
    search = GridSearchCV(
        bj.DensityEstimator("maf", options=SMALL["maf"], steps=20),
        {"lr": [1e-3, 1e-2]},
        cv=2,
    ).fit(x)
    assert search.best_params_["lr"] in (1e-3, 1e-2)
    scores = cross_val_score(bj.DensityEstimator("maf", options=SMALL["maf"], steps=20), x, cv=2)
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_bad_models_and_options_are_one_error():
    x = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        bj.DensityEstimator("nope").fit(x)
    with pytest.raises(ValueError, match="not a model of vectors"):
        bj.DensityEstimator("glow").fit(x)
    with pytest.raises(ValueError, match="'z', which is not a column"):
        bj.DensityEstimator(column_schema={"z": {"kind": "count"}}).fit(x)
