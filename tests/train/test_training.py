"""The training loop and experiments: exact resume, non-finite steps, early stopping,
checkpoints, and the figures reported."""

from __future__ import annotations

import math

import pytest
import torch
from runs import interrupt_during, tiny

import bijective as bj
import bijective.train as T
from bijective.train.metrics import read_metrics


def losses(run_dir) -> list[float | None]:
    return [row["loss"] for row in read_metrics(run_dir / "metrics.csv")]


def test_resume_after_an_interruption_repeats_the_uninterrupted_losses(
    tmp_path, monkeypatch
) -> None:
    # Dropout (global RNG), a class context and warm-up + cosine: every source of state.
    raw = tiny(
        data={"conditional": True},
        model={"dropout": 0.1},
        train={"warmup": 5, "schedule": "cosine", "optimizer": "adamw", "weight_decay": 0.01},
    )
    config = T.parse_config(raw)
    whole = T.train(config, tmp_path / "whole", log=lambda _: None)

    restore = interrupt_during(monkeypatch, 25)  # the last checkpoint is step 20
    with pytest.raises(KeyboardInterrupt):
        T.train(config, tmp_path / "cut", log=lambda _: None)
    assert len(losses(tmp_path / "cut")) == 24
    restore()
    resumed = T.resume(tmp_path / "cut", log=lambda _: None)
    assert losses(tmp_path / "cut") == losses(tmp_path / "whole")
    assert resumed["test_nll"] == whole["test_nll"] and resumed["best_step"] == whole["best_step"]


def test_a_new_run_refuses_a_directory_holding_one(tmp_path) -> None:
    config = T.parse_config(tiny(train={"steps": 10}))
    T.train(config, tmp_path, log=lambda _: None)
    before = (tmp_path / "metrics.csv").read_text()
    with pytest.raises(FileExistsError, match="already holds a run"):
        T.train(config, tmp_path)
    assert (tmp_path / "metrics.csv").read_text() == before


class Quadratic(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([3.0]))


def quadratic_fit(tmp_path, bad_steps: set[int], **train):
    """fit() on (w - 1)^2, with a NaN loss (or an infinite gradient) at `bad_steps`."""
    model, seen = Quadratic(), []

    def loss(m, batch):
        seen.append(m.w.item())
        step = len(seen)
        value = ((m.w - 1) ** 2).sum()
        if step in bad_steps and step % 2:
            return value * math.nan  # a NaN loss
        if step in bad_steps:  # a finite loss with a NaN gradient: d sqrt|u| / du at u = 0
            return value + (m.w - m.w.detach()).abs().sqrt().sum()
        return value

    config = T.TrainConfig(**{"steps": 10, "eval_every": 5, "lr": 0.1, **train})
    progress = T.fit(
        model,
        loss,
        lambda g, step: None,
        lambda m: float((m.w.detach() - 1) ** 2),
        config,
        tmp_path,
        log=lambda _: None,
    )
    return progress, seen, model


def test_non_finite_losses_and_gradients_are_skipped_and_counted(tmp_path) -> None:
    progress, seen, model = quadratic_fit(tmp_path, {3, 4})
    assert progress.skipped == 2 and progress.step == 10
    # The weights after the skipped steps are those before them: nothing was written.
    assert seen[2] == seen[3] == seen[4]
    assert model.w.isfinite().all()
    rows = read_metrics(tmp_path / "metrics.csv")
    assert rows[2]["loss"] is None and rows[3]["loss"] is None and rows[4]["skipped"] == 2


def test_too_many_non_finite_losses_in_a_row_stop_and_keep_the_checkpoint(tmp_path) -> None:
    with pytest.raises(T.Diverged, match="3 non-finite losses in a row at step 7"):
        quadratic_fit(tmp_path, {5, 6, 7}, max_skipped=3, checkpoint_every=2)
    tensors, state = T.load_checkpoint(tmp_path / "checkpoint")
    assert state["progress"]["step"] == 6 and state["progress"]["skipped"] == 2
    assert tensors["model.w"].isfinite().all()


def test_early_stopping_keeps_the_best_validated_weights(tmp_path) -> None:
    model, vals = Quadratic(), iter([5.0, 1.0, 2.0, 3.0, 4.0, 0.5])

    def loss(m, batch):
        return ((m.w - 1) ** 2).sum()

    snapshots = {}

    def validate(m):
        value = next(vals)
        snapshots[value] = m.w.item()
        return value

    config = T.TrainConfig(steps=100, eval_every=2, patience=3, lr=0.01)
    progress = T.fit(
        model, loss, lambda g, step: None, validate, config, tmp_path, log=lambda _: None
    )
    assert progress.stopped_early and progress.step == 10 and progress.best_step == 4
    assert model.w.item() == snapshots[1.0]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("constant", [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]),
        ("cosine", [0.25, 0.5, 0.75, 1.0, 0.75, 0.25, 0.0]),
    ],
)
def test_learning_rate_warms_up_linearly_then_holds_or_anneals(schedule, expected) -> None:
    config = T.TrainConfig(steps=7, warmup=4, lr=1.0, schedule=schedule)
    rates = [T.learning_rate(config, s) for s in range(1, 8)]
    assert rates == pytest.approx(expected)


def test_reported_figures_follow_their_definitions(tmp_path) -> None:
    results = T.train(
        T.parse_config(tiny(train={"steps": 10})), tmp_path / "moons", log=lambda _: None
    )
    run = T.open_run(tmp_path / "moons")
    test_x = run.data.test.x
    assert results["test_nll"] == pytest.approx(-run.model.log_prob(test_x).mean().item(), rel=1e-5)
    # In the original units: the standardisation's log-det added back.
    assert results["test_nll_original_units"] == pytest.approx(
        results["test_nll"] + float(run.data.scale.log().sum()), rel=1e-6
    )
    digits = T.train(
        T.parse_config(
            tiny(
                data={"name": "digits", "n_train": None, "n_val": None, "n_test": None},
                train={"steps": 5},
            )
        ),
        tmp_path / "digits",
        log=lambda _: None,
    )
    # Discrete data: test_nll is -log P(x) of the integer pixels (the dequantization bound).
    assert digits["test_bits_per_dim"] == pytest.approx(digits["test_nll"] / (64 * math.log(2)))
    assert digits["test_bits_per_dim_iw"] < digits["test_bits_per_dim"] + 0.05
    assert T.evaluate(tmp_path / "digits")["test_nll"] == pytest.approx(
        digits["test_nll"], rel=1e-6
    )
    # Every run gets its plots: densities for 2-D data, sample grids for images.
    plots = {
        run: sorted(p.name for p in (tmp_path / run / "plots").iterdir())
        for run in ("moons", "digits")
    }
    assert plots == {
        "moons": ["curves.png", "density.png", "samples.png"],
        "digits": [
            "curves.png",
            "data.png",
            "interpolation.png",
            "samples_T0.7.png",
            "samples_T1.0.png",
        ],
    }


def test_the_logit_preprocessing_is_inside_the_model_so_its_log_det_counts() -> None:
    config = T.parse_config(
        tiny(data={"name": "digits", "n_train": None, "n_val": None, "n_test": None})
    )
    model = T.build(config).model.flow  # the flow inside the DequantizedFlow
    logit, *rest = model.transform.transforms
    assert type(logit).__name__ == "Logit" and logit.alpha == 0.05
    y = torch.rand(5, 64)
    z, ladj = logit(y)
    inner = bj.Flow(bj.transforms.Compose(*rest), model.base)
    assert torch.allclose(model.log_prob(y), inner.log_prob(z) + ladj, atol=1e-4)
    assert ladj.abs().min() > 1  # a real change of variables, not a no-op


def test_samples_come_back_in_the_data_units() -> None:
    experiment = T.build(T.parse_config(tiny()))
    raw = bj.data.load("moons", standardise_data=False, n_train=512, n_val=128, n_test=128)
    assert torch.allclose(experiment.to_data_space(experiment.data.test.x), raw.test.x, atol=1e-5)
    digits = T.build(
        T.parse_config(
            tiny(data={"name": "digits", "n_train": None, "n_val": None, "n_test": None})
        )
    )
    pixels = digits.to_data_space(digits.model.sample((4,)))
    assert pixels.shape == (4, 64) and set(pixels.unique().tolist()) <= set(range(17))


def test_a_class_conditional_image_run_samples_every_class(tmp_path) -> None:
    digits = {"name": "digits", "n_train": None, "n_val": None, "n_test": None, "conditional": True}
    T.train(T.parse_config(tiny(data=digits, train={"steps": 3})), tmp_path, log=lambda _: None)
    run = T.open_run(tmp_path)
    assert run.sample(2).shape == (20, 64) and run.sample(3, label=7).shape == (3, 64)
    with pytest.raises(T.ConfigError, match="expected a class in 0..9"):
        run.sample(3, label=10)
    assert (tmp_path / "plots" / "samples_T1.0.png").exists()
