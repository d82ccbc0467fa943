"""Density estimation: a model fitted to data by maximum likelihood (forward KL).

Continuous data (standardised on train unless `data.standardise` is false) go to the model
as they are. Discrete data (pixels in {0..L-1}, character codes) reach a continuous flow
only through bijective.flows.dequantized: uniform or variational dequantization, the logit
prefix, and with `data.n_bits` n the top n bits of 256-level pixels. An autoregressive
model of discrete data (an entry that takes `levels`) models the integers directly. With
`data.binarise`, pixels become binary: b ~ Bernoulli(x / (L - 1)), drawn afresh for every
training batch (dynamic binarisation) and once, seeded by data.seed + 1 and + 2, for the
validation and test sets (the same draws the latent kind makes, so the VAE's test set is
the same). The model sees rows shaped as its events (vectors, or images (C, H, W)).

Reported (results.json): val_nll and test_nll, the mean -log p(x) per example in nats:
for continuous data the density of the data as the model sees them (standardised;
test_nll_original_units adds the standardisation's log-det), for discrete data the
negative dequantization bound on -log P(x) of the integer data (one seeded draw per
example) for a flow and the exact -log P(x) for an autoregressive model; for discrete data
also val/test_bits_per_dim = nll / (D ln 2) (bits per character for text) and, for a
flow, test_bits_per_dim_iw, the importance-weighted bound with train.importance_samples
draws. A text run also reports a few samples (`text_samples`, at temperature 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ... import objectives
from ...data import Dataset, Split, binarise
from ...data.schema import infer
from ...data.streaming import Streamed, step_loader
from ...data.tables import as_table, csv_text
from ...data.text import decode
from ...flows import DequantizedFlow, Flow, dequantized
from ...registry import Entry
from ..compiled import Compiled
from ..config import Config, ConfigError
from ..distributed import Local, process_place
from ..faults import write_atomically
from ..metrics import NLL
from ..state import Progress
from . import figures
from .base import Run, build_model, load_data, supplied


@dataclass
class DensityExperiment(Run):
    config: Config
    data: Dataset
    model: nn.Module  # a bijective.Density
    levels: int | None  # the levels the model sees, for discrete data
    shift: int  # discrete pixels are x >> shift
    _log_prob = None  # the compiled log_prob, once compile_evaluation has run
    _batches = None  # a streamed split's batches, and the step the next one is for
    _next_step = 0

    @property
    def binarised(self) -> bool:
        return self.config.data.binarise

    metric = NLL

    @property
    def conditional(self) -> bool:
        return self.config.data.conditional

    @property
    def classes(self) -> int:
        return self.data.classes if self.conditional else 0

    def context(self, labels: Tensor | None) -> Tensor | None:
        """One-hot labels: the context of a class-conditional model."""
        if not self.conditional or labels is None:
            return None
        return torch.eye(self.data.classes, device=self.device)[labels.to(self.device)]

    def inputs(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Rows of the data as the model takes them: shaped as its events, discrete
        values at the configured bits, or binarised with `generator`."""
        if self.binarised:
            x = binarise(x, self.data.levels, generator)
        elif self.levels is not None:
            x = torch.div(x, 2**self.shift, rounding_mode="floor")
        return x.view(len(x), *self.model.event_shape).to(self.device)

    def split_inputs(self, split: Split, seed: int) -> Tensor:
        """A split's rows as the model sees them (binarised by the seed, if binarising)."""
        return self.inputs(split.x, torch.Generator().manual_seed(seed))

    def draw(self, generator: torch.Generator, step: int) -> tuple[Tensor, Tensor | None]:
        """A training minibatch, rows drawn with replacement (binarised afresh); from a
        streamed file, step `step`'s rows (bijective.data.streaming), this process's only."""
        train = self.data.train
        if isinstance(train, Streamed):
            return Local((self._streamed(train, step).to(self.device), None))
        rows = torch.randint(len(train), (self.config.train.batch,), generator=generator)
        labels = None if train.labels is None else train.labels[rows]
        return self.inputs(train.x[rows], generator), self.context(labels)

    def _streamed(self, train: Streamed, step: int) -> Tensor:
        """The rows of `step` from the DataLoader, started again where a step is not the
        one after the last (a resumed run, or the first batch drawn twice)."""
        if self._batches is None or self._next_step != step:
            rank, world = process_place()
            last = self.config.train.steps
            loader = step_loader(
                train,
                self.config.train.batch,
                self.config.train.seed,
                step,
                last,
                workers=train.workers,
                rank=rank,
                world=world,
            )
            self._batches = iter(loader)
        self._next_step = step + 1
        return next(self._batches)

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor | None]) -> Tensor:
        return objectives.training_loss(model, *batch) + objectives.penalty(model)

    def compile_evaluation(self, log: Callable[[str], None]) -> None:
        """log_prob through torch.compile from here on, for validation and the results
        (the same random draws as eager code); the importance-weighted bound stays
        eager."""
        self._log_prob = Compiled(self.model.log_prob, log, "evaluating")

    def nll(self, split: Split, seed: int, **extra: Any) -> float:
        """The mean -log p(x) of a split in nats, its random draws seeded."""
        compiled = self._log_prob is not None and not extra
        log_prob = self._log_prob if compiled else self.model.log_prob
        score = lambda x, c: log_prob(x, c, **extra)  # noqa: E731
        if isinstance(split, Streamed):  # chunk by chunk
            total = sum(
                self.mean_negative(score, seed, x.to(self.device)) * len(x) for x in split.chunks()
            )
            return total / len(split)
        x = self.split_inputs(split, seed)
        return self.mean_negative(score, seed, x, self.context(split.labels))

    @torch.no_grad()
    def nll_by_column_type(self, split: Split, seed: int) -> dict[str, float]:
        """test_nll_categorical, _count, _continuous: the mean -log p of a table's rows
        by the model's terms for each type of column (they sum to test_nll)."""
        x = self.split_inputs(split, seed)
        totals: dict[str, float] = {}
        for rows in x.split(self.config.train.eval_batch):
            for kind, log_p in self.model.eval().log_prob_parts(rows).items():
                totals[kind] = totals.get(kind, 0.0) - float(log_p.sum())
        return {f"test_nll_{kind}": total / len(x) for kind, total in totals.items()}

    def validate(self, model: nn.Module) -> float:
        return self.nll(self.data.val, self.config.data.seed + 1)

    def results(self, progress: Progress) -> dict[str, Any]:
        started, seed = time.perf_counter(), self.config.data.seed
        val, test = self.nll(self.data.val, seed + 1), self.nll(self.data.test, seed + 2)
        results = {**self.fields(progress), "val_nll": val, "test_nll": test}
        if self.data.scale is not None:
            results["test_nll_original_units"] = test + self.data.standardisation_log_det
        if self.levels is not None:
            dims = self.data.features
            results |= {
                "levels": self.levels,
                "val_bits_per_dim": objectives.bits_per_dim(val, dims),
                "test_bits_per_dim": objectives.bits_per_dim(test, dims),
            }
        if self.binarised:
            results["binarised"] = "dynamic (train), seeded by data.seed + 1, + 2 (val, test)"
        if isinstance(self.model, DequantizedFlow):
            samples = self.config.train.importance_samples
            iw = self.nll(self.data.test, seed + 2, samples=samples)
            results |= {
                "dequantization": self.config.data.dequantization,
                "test_bits_per_dim_iw": objectives.bits_per_dim(iw, self.data.features),
                "importance_samples": samples,
            }
        if hasattr(self.model, "log_prob_parts"):  # a table: the NLL by column type
            results |= self.nll_by_column_type(self.data.test, seed + 2)
        if self.data.vocabulary is not None:
            with self.seeded(seed + 3):
                results["text_samples"] = [decode(row) for row in self.sample(3)]
        results["eval_seconds"] = round(time.perf_counter() - started, 1)
        return results

    def summary(self, results: dict[str, Any]) -> str:
        line = f"{results['name']}: test NLL {results['test_nll']:.4f} nats"
        if "test_bits_per_dim" in results:
            line += f", {results['test_bits_per_dim']:.4f} bits/dim"
        return line + self.steps_line(results)

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, label: int | None = None, *, guidance: float = 0.0
    ) -> Tensor:
        """n samples in the data's units (pixel values, or the original units of
        standardised data); for a conditional model, of class `label` (n per class when
        label is None), rows ordered by class, guided with weight `guidance` where not 0
        (classifier-free guidance, TarFlow)."""
        self.check_label(label)
        self.check_guidance(guidance)
        model = self.model.eval()
        if not self.conditional:
            return self.to_data_space(model.sample((n,), temperature=temperature))
        labels = torch.arange(self.classes) if label is None else torch.tensor([label])
        context = self.context(labels.repeat_interleave(n))
        if guidance:  # check_guidance: a TarFlow, perhaps dequantized
            return self.to_data_space(model.sample((), context, temperature, guidance=guidance))
        return self.to_data_space(model.sample((), context, temperature))

    def to_data_space(self, y: Tensor) -> Tensor:
        """Rows the model sees or samples (standardised values; discrete values at the
        configured bits) in the data's units, flattened."""
        y = y.detach().cpu().reshape(len(y), -1)
        if self.binarised:
            return y * (self.data.levels - 1)
        if self.levels is not None:
            return y * 2**self.shift
        if self.data.scale is not None:
            return y * self.data.scale + self.data.shift
        return y

    def save_samples(self, samples: Tensor, path: Path, caption: str = "") -> None:
        """.txt for the samples of a text model (one line per sample, newlines as \\n);
        .csv for a table's (its column names, categories and integers as in the data)."""
        if path.suffix == ".csv":
            if self.data.schema is None:
                raise ConfigError(f"-o {path}: this run's samples are not a table; use .npy")
            table = self.data.schema.decode(samples.numpy())
            write_atomically(path, csv_text(table))
            return None
        if path.suffix != ".txt":
            return super().save_samples(samples, path, caption)
        if self.data.vocabulary is None:
            raise ConfigError(f"-o {path}: this run's samples are not text; use .npy or .png")
        lines = [decode(row).replace("\n", "\\n") for row in samples]
        write_atomically(path, "\n".join(lines) + "\n")

    def picture(self, samples: Tensor, path: Path, caption: str = "") -> None:
        data = self.data
        if data.image_shape is not None:
            title = f"{len(samples)} samples, {caption}".rstrip(", ")
            figures.image_samples(samples, data.image_shape, data.levels, path, title)
        elif data.features == 2:
            figures.point_samples(self, samples, path, caption)
        elif data.vocabulary is not None:
            raise ConfigError(f"-o {path}: this run's samples are text; use .txt or .npy")
        else:
            super().picture(samples, path)

    def write_plots(self, run_dir: Path) -> None:
        plots = figures.start(run_dir, self.metric)
        if isinstance(self.data.test, Streamed):  # no figure reads a whole split
            return
        if self.data.schema is not None:
            figures.table(self, plots)
        elif self.data.features == 2:
            figures.points_2d(self, plots)
        elif self.data.image_shape is not None:
            figures.images(self, plots)
        elif self.data.vocabulary is not None:
            figures.text(self, plots)


def _levels(config: Config, data: Dataset) -> tuple[int | None, int]:
    """The levels the model sees and the right shift that gets them (data.n_bits)."""
    n_bits = config.data.n_bits
    if data.levels is None:
        if n_bits is not None or config.data.dequantization != "uniform" or config.data.binarise:
            raise ConfigError(
                "data.dequantization, data.n_bits, data.binarise: for discrete data; "
                f"{data.name!r} is continuous"
            )
        return None, 0
    if config.data.binarise:
        if n_bits is not None or data.image_shape is None:
            raise ConfigError(
                f"data.binarise: binarises image pixels (without n_bits); {data.name!r} "
                f"{'has no images' if data.image_shape is None else 'with n_bits'}"
            )
        return 2, 0
    if n_bits is None:
        return data.levels, 0
    if data.levels != 256 or not 1 <= n_bits <= 8:
        raise ConfigError(
            f"data.n_bits: reduces 256-level pixels to 1..8 bits; {data.name!r} has "
            f"{data.levels} levels, n_bits={n_bits}"
        )
    return 2**n_bits, 8 - n_bits


def _tables(config: Config, entry: Entry) -> Dataset:
    """The data, as a table encoded by its schema where the model models tables: a
    numeric set becomes a table of its columns ("0", "1", ...)."""
    tabular = "schema" in entry.from_data
    data = load_data(config, table=tabular)
    if data.schema is not None and not tabular:
        raise ConfigError(
            f"model: {entry.name} models vectors of numbers; {data.name!r} is a table of mixed "
            "columns: use model tabular"
        )
    if tabular and data.schema is None:
        if data.levels is not None or config.data.conditional:
            raise ConfigError(f"model: {entry.name} models tables; {data.name!r} is not one")
        splits = (data.train, data.val, data.test)
        whole = as_table(torch.cat([s.x for s in splits]).numpy())
        ends = np.cumsum([len(s) for s in splits])
        try:
            schema = infer(whole, whole.rows(range(ends[0])), where=f"data set {data.name!r}")
        except ValueError as error:
            raise ConfigError(f"data: {error}") from None
        rows = torch.as_tensor(schema.encode(whole), dtype=torch.float32).tensor_split(ends[:2])
        encoded = [Split(part) for part in rows]
        data = replace(data, train=encoded[0], val=encoded[1], test=encoded[2], schema=schema)
    return data


def build(config: Config, entry: Entry) -> DensityExperiment:
    data = _tables(config, entry)
    levels, shift = _levels(config, data)
    context = 0
    if config.data.conditional:
        if data.classes == 0:
            raise ConfigError(
                f"data.conditional: data set {data.name!r} has no labels to condition on"
            )
        if "context" not in entry.from_data:
            raise ConfigError(f"data.conditional: {entry.name} has no conditional form here")
        context = data.classes
    available = {
        "features": data.features,
        "context": context,
        "shape": data.image_shape,
        "levels": levels,
        "schema": None if data.schema is None else data.schema.to_dict(),
    }
    if "levels" in entry.from_data and levels is None:
        raise ConfigError(f"model: {entry.name} models discrete data; {data.name!r} is continuous")
    model = build_model(config, entry, supplied(entry, available, f"data set {data.name!r}"))
    if levels is not None and "levels" not in entry.from_data:
        if not isinstance(model, Flow):
            raise ConfigError(f"model: {entry.name} is not a flow; {data.name!r} is discrete")
        try:
            model = dequantized(model, levels, config.data.dequantization, config.data.logit)
        except ValueError as error:
            raise ConfigError(f"data.{error}") from None
        model = model.to(config.train.torch_device())  # the prefix and dequantizer, too
    return DensityExperiment(config, data, model, levels, shift)
