"""Plots written as PNG: learned 2-D densities beside the data, samples against data,
training curves, and image grids. matplotlib is imported on first use (Agg backend).

At the bottom of the package: these functions take tensors, callables and plain rows,
never a model or a run, and import nothing of bijective; the experiment kinds call them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> None:
    """The figure as `path`, whole or not at all (a temporary renamed into place; removed
    if saving fails, e.g. on a full disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    try:
        figure.savefig(tmp, dpi=100, format=path.suffix.lstrip(".") or "png")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        _pyplot().close(figure)


def _bounds(data: Tensor, margin: float = 0.1) -> tuple[float, float, float, float]:
    """The 0.5% to 99.5% quantile box of 2-D data, widened by `margin` of its size."""
    lo, hi = data.float().quantile(0.005, dim=0), data.float().quantile(0.995, dim=0)
    pad = margin * (hi - lo)
    return (
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )


LogDensity = Callable[[Tensor], Tensor]  # points (N, 2) on the CPU -> log p (N,)


@torch.no_grad()
def density_2d(
    log_prob: LogDensity,
    data: Tensor,
    path: Path,
    resolution: int = 200,
    units: str = "data units",
) -> None:
    """The density exp(log_prob) on a grid, beside a 2-D histogram of the data, on the same
    axes; `units` names the axes' units (e.g. "standardised" when the model sees
    standardised data), the colorbars give counts and density. The caller puts the model
    in eval mode."""
    plt = _pyplot()
    x0, x1, y0, y1 = _bounds(data)
    xs, ys = torch.linspace(x0, x1, resolution), torch.linspace(y0, y1, resolution)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    density = log_prob(grid).exp().cpu().reshape(resolution, resolution)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    *_, counts = left.hist2d(
        data[:, 0].numpy(),
        data[:, 1].numpy(),
        bins=resolution // 2,
        range=[[x0, x1], [y0, y1]],
        cmap="viridis",
    )
    figure.colorbar(counts, ax=left, label="test points per bin")
    image = right.imshow(
        density.numpy(), origin="lower", extent=(x0, x1, y0, y1), cmap="viridis", aspect="auto"
    )
    figure.colorbar(image, ax=right, label=f"p(x) (per unit area, {units})")
    for axis, title in ((left, "test data"), (right, "learned density")):
        _label_axes(axis, units, title)
    _save(figure, path)


def _label_axes(axis: Any, units: str, title: str, names: tuple[str, str] = ("x1", "x2")) -> None:
    axis.set(title=title, xlabel=f"{names[0]} ({units})", ylabel=f"{names[1]} ({units})")


def samples_2d(samples: Tensor, data: Tensor, path: Path, caption: str = "") -> None:
    """Model samples (right) against data (left), same axes, in the data's units;
    `caption` (e.g. the temperature) goes into the samples' title."""
    plt = _pyplot()
    x0, x1, y0, y1 = _bounds(data)
    figure, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharex=True, sharey=True)
    titles = (f"test data ({len(data):,})", _titled(f"samples ({len(samples):,})", caption))
    for axis, points, title in zip(axes, (data, samples), titles, strict=True):
        axis.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=1, alpha=0.4)
        axis.set(xlim=(x0, x1), ylim=(y0, y1))
        _label_axes(axis, "data units", title)
    _save(figure, path)


def _titled(title: str, caption: str) -> str:
    return f"{title}, {caption}" if caption else title


@torch.no_grad()
def density_panel(
    axis: Any, log_density: Any, view: Any, resolution: int = 200, title: str = ""
) -> None:
    """exp(log_density(points)) on a resolution x resolution grid over the box `view`
    ((x0, x1), (y0, y1)), drawn on `axis` (a matplotlib Axes)."""
    (x0, x1), (y0, y1) = view
    xs, ys = torch.linspace(x0, x1, resolution), torch.linspace(y0, y1, resolution)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    density = torch.cat([log_density(chunk).cpu() for chunk in grid.split(10_000)]).exp()
    image = axis.imshow(
        density.reshape(resolution, resolution).numpy(),
        origin="lower",
        extent=(x0, x1, y0, y1),
        cmap="viridis",
        aspect="auto",
    )
    axis.figure.colorbar(image, ax=axis, label="density")
    axis.set(title=title, xlabel="z1", ylabel="z2")


@torch.no_grad()
def target_fit(log_q: LogDensity, samples: Tensor, target: Any, path: Path) -> None:
    """A variational fit: the target density p (left), the flow's density q = exp(log_q)
    (middle) and a histogram of q's `samples` (n, 2) (right), on the target's view box."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(12, 4))
    density_panel(axes[0], target.normalized_log_prob, target.view, title="target p")
    density_panel(axes[1], log_q, target.view, title="flow q")
    (x0, x1), (y0, y1) = target.view
    *_, counts = axes[2].hist2d(
        samples[:, 0].numpy(), samples[:, 1].numpy(), bins=100, range=[[x0, x1], [y0, y1]]
    )
    figure.colorbar(counts, ax=axes[2], label="samples per bin")
    axes[2].set(title=f"{len(samples):,} samples of q", xlabel="z1", ylabel="z2")
    _save(figure, path)


def samples_on_target(samples: Tensor, target: Any, path: Path, caption: str = "") -> None:
    """Samples (n, 2) drawn over the target's density, on its view box."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    title = _titled(f"{len(samples):,} samples on the target", caption)
    density_panel(axis, target.normalized_log_prob, target.view, title=title)
    axis.scatter(samples[:, 0].numpy(), samples[:, 1].numpy(), s=2, color="w", alpha=0.5)
    (x0, x1), (y0, y1) = target.view
    axis.set(xlim=(x0, x1), ylim=(y0, y1))
    _save(figure, path)


def conditional_samples_2d(samples: Tensor, data: Tensor, labels: Tensor, path: Path) -> None:
    """samples (K, n, 2), one row per condition, each beside the data of that class."""
    plt = _pyplot()
    x0, x1, y0, y1 = _bounds(data)
    k = len(samples)
    figure, axes = plt.subplots(2, k, figsize=(2.4 * k, 5), sharex=True, sharey=True, squeeze=False)
    for c in range(k):
        for row, points, title in ((0, data[labels == c], "data"), (1, samples[c], "samples")):
            axes[row, c].scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=1, alpha=0.4)
            axes[row, c].set(xlim=(x0, x1), ylim=(y0, y1))
            _label_axes(axes[row, c], "data units", f"{title} | class {c}")
    _save(figure, path)


def training_curves(rows: list[dict[str, float | None]], path: Path, label: str) -> None:
    """Training loss per step (faint) and its moving average, and the validation metric
    (the rows' fourth column: NLL, or KL(q || p) for variational inference), named
    `label` in the legend. `rows` as a metrics CSV reads: step, loss, lr, metric, ..."""
    plt = _pyplot()
    steps = [r["step"] for r in rows if r["loss"] is not None]
    loss = torch.tensor([r["loss"] for r in rows if r["loss"] is not None])
    figure, axis = plt.subplots(figsize=(6, 4))
    if len(loss):
        window = max(1, len(loss) // 50)
        smooth = torch.nn.functional.avg_pool1d(loss[None, None], window, 1).flatten()
        axis.plot(steps, loss.numpy(), alpha=0.25, color="C0")
        axis.plot(steps[window - 1 :], smooth.numpy(), color="C0", label="train loss")
    metric = list(rows[0])[3] if rows else "val_nll"
    val = [(r["step"], r[metric]) for r in rows if r[metric] is not None]
    if val:
        axis.plot(*zip(*val, strict=True), "o-", color="C1", label=label)
    if len(loss):
        low, high = float(loss.quantile(0.01)), float(loss.quantile(0.9))
        axis.set_ylim(low - 0.1 * (high - low), high + 0.1 * (high - low) + 1e-6)
    axis.set(xlabel="step", ylabel="nats")
    axis.legend()
    _save(figure, path)


def image_grid(images: Tensor, path: Path, rows: int | None = None, title: str = "") -> None:
    """Images (N, C, H, W) with values in [0, 1] tiled in a grid, `rows` rows, under
    `title` (what they are: samples at which temperature, of which class)."""
    plt = _pyplot()
    n, channels, height, width = images.shape
    rows = rows or int(math.ceil(math.sqrt(n)))
    cols = int(math.ceil(n / rows))
    canvas = torch.ones(channels, rows * (height + 1) + 1, cols * (width + 1) + 1)
    for i, image in enumerate(images.clamp(0, 1)):
        r, c = divmod(i, cols)
        canvas[
            :,
            1 + r * (height + 1) : 1 + r * (height + 1) + height,
            1 + c * (width + 1) : 1 + c * (width + 1) + width,
        ] = image
    wide = max(cols * 0.6 + 0.5, 0.075 * len(title) + 0.3)  # the title fits (9 pt)
    figure, axis = plt.subplots(figsize=(wide, rows * 0.6 + 0.5))
    if channels == 1:
        axis.imshow(canvas[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        axis.imshow(canvas.permute(1, 2, 0).numpy())
    axis.axis("off")
    if title:
        axis.set_title(title, fontsize=9)
    _save(figure, path)


def column_marginals(
    panels: list[tuple[str, list[str] | None, Tensor, Tensor]], path: Path, title: str = ""
) -> None:
    """One panel per column of a table, data against samples, as shares of each: (name,
    categories, data, samples) with codes 0..K-1 (a bar per category; NaN, a missing
    entry, a bar of its own where either has one) or numbers (histograms on the data's
    1%-99% range, missing entries left out)."""
    plt = _pyplot()
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    figure, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for axis, (name, categories, data, samples) in zip(axes.flat, panels, strict=False):
        if categories is not None:
            gaps = bool(data.isnan().any() or samples.isnan().any())
            labels = [*categories, "missing"] if gaps else list(categories)
            width = 0.4
            for shift, values, label in (
                (-width / 2, data, "data"),
                (width / 2, samples, "samples"),
            ):
                codes = torch.nan_to_num(values, nan=len(categories)).long()
                share = torch.bincount(codes, minlength=len(labels)).double() / max(len(values), 1)
                axis.bar(torch.arange(len(labels)) + shift, share, width, label=label)
            axis.set_xticks(range(len(labels)), labels, rotation=45, fontsize=7)
        else:
            present = data[~data.isnan()].double()
            lo, hi = (float(q) for q in present.quantile(torch.tensor([0.01, 0.99]).double()))
            bins = torch.linspace(lo, hi, 31).numpy() if hi > lo else 30
            for values, label in ((data, "data"), (samples, "samples")):
                shown = values[~values.isnan()].double().numpy()
                axis.hist(shown, bins=bins, density=True, alpha=0.5, label=label)
        axis.set_title(name, fontsize=9)
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    if title:
        figure.suptitle(title)
    _save(figure, path)
