"""Plots say what they show: axis labels with units, colorbars for densities and counts,
and the temperature and class in the title of sampled pictures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml
from runs import tiny

import bijective as bj
from bijective import viz
from bijective.cli import main


@pytest.fixture
def figures(monkeypatch) -> list:
    """Every figure viz saves, kept open for inspection instead of written."""
    saved = []
    monkeypatch.setattr(viz, "_save", lambda figure, path: saved.append(figure))
    yield saved
    for figure in saved:
        viz._pyplot().close(figure)


def _colorbar_labels(figure) -> list[str]:
    return [a.get_ylabel() for a in figure.axes if a.get_label() == "<colorbar>"]


def test_density_plots_name_their_units_and_have_colorbars(figures, tmp_path) -> None:
    flow = bj.flows.MAF(2, transforms=1, hidden=(8,))
    viz.density_2d(flow.log_prob, torch.randn(300, 2), tmp_path / "d.png", 40, units="standardised")
    left, right = [a for a in figures[0].axes if a.get_label() != "<colorbar>"]
    assert left.get_xlabel() == "x1 (standardised)" and right.get_ylabel() == "x2 (standardised)"
    assert right.get_title() == "learned density"
    assert _colorbar_labels(figures[0]) == [
        "test points per bin",
        "p(x) (per unit area, standardised)",
    ]


def test_sample_pictures_carry_temperature_and_class(figures, tmp_path) -> None:
    viz.samples_2d(torch.randn(50, 2), torch.randn(60, 2), tmp_path / "s.png", "T = 0.7")
    titles = [a.get_title() for a in figures[0].axes]
    assert titles == ["test data (60)", "samples (50), T = 0.7"]
    assert figures[0].axes[1].get_xlabel() == "x1 (data units)"
    viz.image_grid(torch.rand(6, 1, 4, 4), tmp_path / "g.png", title="samples, T = 0.7, class 3")
    assert figures[1].axes[0].get_title() == "samples, T = 0.7, class 3"


def test_a_long_grid_title_fits_its_figure(figures, tmp_path) -> None:
    title = "8 samples, T = 1, class 3, guidance 2"  # wider than a grid of 3 x 3 tiles
    viz.image_grid(torch.rand(8, 1, 8, 8), tmp_path / "g.png", title=title)
    figure = figures[0]
    text = figure.axes[0].title
    box = text.get_window_extent(figure.canvas.get_renderer())
    assert text.get_text() == title and 0 <= box.x0 and box.x1 <= figure.bbox.width


def test_the_cli_titles_a_sampled_grid_with_its_label_and_temperature(
    figures, tmp_path, capsys
) -> None:
    config = tmp_path / "c.yaml"
    raw = tiny(data={"conditional": True}, train={"steps": 5, "eval_every": 5})
    config.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run)]) == 0
    figures.clear()
    assert (
        main(
            [
                "sample",
                str(run),
                "-n",
                "9",
                "--label",
                "1",
                "--temperature",
                "0.5",
                "-o",
                str(tmp_path / "s.png"),
            ]
        )
        == 0
    )
    assert figures[0].axes[1].get_title() == "samples (9), T = 0.5, class 1"


def test_viz_is_at_the_bottom_of_the_package() -> None:
    """bijective.viz takes tensors and callables and imports nothing of bijective."""
    source = Path(viz.__file__).read_text()
    assert not re.search(r"^\s*(from \.|from bijective|import bijective)", source, re.M)


def test_only_the_figures_module_of_the_kinds_draws() -> None:
    """The experiment kinds hold no plotting: train/kinds/figures.py is their one path to
    viz, and nothing else in train/ imports it."""
    import bijective.train as train

    root = Path(train.__file__).parent
    drawing = {
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if re.search(r"\bviz\b", path.read_text())
    }
    assert drawing == {"kinds/figures.py"}
