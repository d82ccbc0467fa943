"""bj.DensityEstimator: any density model of the catalogue as a scikit-learn estimator.

    est = bj.DensityEstimator("tabular", steps=2000).fit(frame)   # or a numeric array
    est.score_samples(rows)   # log p(row) in nats, exact (-inf outside the support)
    est.score(rows)           # the mean log p: what GridSearchCV maximises
    est.sample(100)           # rows like the fitted ones (a DataFrame for a DataFrame)

`model` is "tabular" (mixed columns: bijective.tabular.Tabular, the schema inferred from
the rows given to `fit`, `column_schema` overriding it) or a vector model of the
catalogue (maf, nsf, realnvp, ...: numeric columns, standardised on the fitted rows,
score_samples in the data's own units). Training is bijective.train.loop.fit's: Adam at
`lr` on minibatches of `batch` rows for `steps` steps, the weights that score best on a
`val_fraction` of the rows (when there are 20 rows or more) kept; `seed` fixes the model's
initialisation and every draw, so fitting twice gives the same estimator.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .catalogue import MODELS
from .data.schema import infer
from .data.tables import as_table
from .optional import require

_sklearn_base = require("sklearn.base", "scikit-learn", "bj.DensityEstimator")
_validation = require("sklearn.utils.validation", "scikit-learn", "bj.DensityEstimator")


class DensityEstimator(_sklearn_base.BaseEstimator):
    """A density model fitted by maximum likelihood, with scikit-learn's interface (see
    the module docstring).

    Args:
        model: "tabular", or a vector model of the catalogue (`bijective list`).
        options: the model's options (hidden sizes, bins, ...), as in a config's model.
        column_schema: for "tabular", fields of columns by name (kind, lower, upper,
            period, heavy_tails).
        steps, batch, lr: the optimisation.
        val_fraction: rows held out to choose the best weights.
        seed: the initialisation and every draw.
    """

    def __init__(
        self,
        model: str = "tabular",
        options: dict[str, Any] | None = None,
        column_schema: dict[str, dict[str, Any]] | None = None,
        steps: int = 2000,
        batch: int = 256,
        lr: float = 1e-3,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.options = options
        self.column_schema = column_schema
        self.steps = steps
        self.batch = batch
        self.lr = lr
        self.val_fraction = val_fraction
        self.seed = seed

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.model == "tabular"  # a missing entry
        tags.input_tags.string = self.model == "tabular"
        tags.non_deterministic = False
        return tags

    # -- rows ------------------------------------------------------------------------

    def _rows(self, X: Any, reset: bool) -> torch.Tensor:
        """Rows as the model sees them: encoded by the schema, or standardised numbers."""
        tabular = self.model == "tabular"
        array = _validation.validate_data(
            self,
            X,
            reset=reset,
            dtype=None if tabular else np.float64,
            ensure_all_finite="allow-nan" if tabular else True,
            ensure_min_samples=2 if reset else 1,
        )
        if not tabular:
            if reset:
                self.shift_ = array.mean(0)
                scale = array.std(0)
                self.scale_ = np.where(scale > 0, scale, 1.0)
            return torch.as_tensor((array - self.shift_) / self.scale_, dtype=torch.float32)
        names = getattr(self, "feature_names_in_", None)
        table = as_table(array, None if names is None else [str(n) for n in names])
        if reset:
            self.schema_ = infer(table, overrides=self.column_schema, where="DensityEstimator")
        encoded = self.schema_.encode(table, "DensityEstimator", bounds=False)
        return torch.as_tensor(encoded, dtype=torch.float32)

    def _build(self, features: int) -> torch.nn.Module:
        entry = MODELS[self.model]
        if "density" not in entry.kinds:
            raise ValueError(f"DensityEstimator: model {self.model!r} does not fit data")
        if self.model == "tabular":
            supplied: dict[str, Any] = {"schema": self.schema_.to_dict()}
        elif set(entry.from_data) == {"features", "context"}:
            supplied = {"features": features, "context": 0}
        else:
            raise ValueError(
                f"DensityEstimator: model {self.model!r} is not a model of vectors; "
                "use tabular or a vector model (maf, nsf, realnvp, ...)"
            )
        torch.manual_seed(self.seed)
        return entry.build(**supplied, **(self.options or {}))

    # -- the estimator ---------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> DensityEstimator:
        """Fits the model to the rows of X (y is ignored); returns self."""
        from .train.config import TrainConfig
        from .train.loop import fit

        rows = self._rows(X, reset=True)
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(rows), generator=generator)
        held = int(self.val_fraction * len(rows)) if len(rows) >= 20 else 0
        val, train = rows[order[:held]], rows[order[held:]]
        self.model_ = self._build(rows.shape[1])
        config = TrainConfig(
            steps=self.steps,
            batch=self.batch,
            lr=self.lr,
            seed=self.seed,
            eval_every=max(1, self.steps // 20),
            threads=torch.get_num_threads(),
        )

        def draw(g: torch.Generator, step: int) -> tuple[torch.Tensor, None]:
            return train[torch.randint(len(train), (self.batch,), generator=g)], None

        def loss(model: torch.nn.Module, batch: tuple[torch.Tensor, None]) -> torch.Tensor:
            return -model.log_prob(batch[0]).mean()

        @torch.no_grad()
        def validate(model: torch.nn.Module) -> float:
            scored = val if held else train
            value = -float(model.eval().log_prob(scored).mean())
            model.train()
            return value

        with tempfile.TemporaryDirectory() as run_dir:
            fit(self.model_, loss, draw, validate, config, Path(run_dir), log=lambda _: None)
        self.model_.eval()
        return self

    @torch.no_grad()
    def score_samples(self, X: Any) -> np.ndarray:
        """log p(row) per row of X in nats (the data's units): exact; -inf for a value
        outside a column's support."""
        _validation.check_is_fitted(self, "model_")
        log_p = self.model_.log_prob(self._rows(X, reset=False)).double().numpy()
        if self.model != "tabular":
            log_p = log_p - np.log(self.scale_).sum()
        return log_p

    def score(self, X: Any, y: Any = None) -> float:
        """The mean log-likelihood per row of X in nats."""
        return float(np.mean(self.score_samples(X)))

    @torch.no_grad()
    def sample(self, n_samples: int = 1, random_state: int | None = None) -> Any:
        """n_samples rows: a DataFrame when fitted on one, else an array (numbers, or
        objects for a table with text columns)."""
        _validation.check_is_fitted(self, "model_")
        if random_state is not None:
            torch.manual_seed(random_state)
        drawn = self.model_.sample((n_samples,)).double().numpy()
        if self.model != "tabular":
            return drawn * self.scale_ + self.shift_
        table = self.schema_.decode(drawn.astype(np.float32))
        if hasattr(self, "feature_names_in_"):
            return table.frame()
        array = np.stack(table.columns, 1)
        if all(s.kind != "categorical" or s.numeric for s in self.schema_.columns):
            return np.where(array == None, np.nan, array).astype(np.float64)  # noqa: E711
        return array
