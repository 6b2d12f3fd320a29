"""Figures, each a function of a results or summary table (matplotlib, no display needed)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from spikeloc.files import atomic_write  # noqa: E402
from spikeloc.study.stats import successful_runs  # noqa: E402
from spikeloc.validation import require  # noqa: E402

PERCENT_METRICS = {"train_acc", "test_acc"}
#: The most labelled series one panel shows (more are split over panels, :func:`metric_panels`).
MAX_SERIES = 8
#: Where a legend goes: right of its axes, top-aligned, outside the data.
LEGEND_OUTSIDE = dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def save_figure(fig: plt.Figure, path: Path, dpi: int = 120) -> None:
    """Write ``fig`` as PNG atomically (no half-written file if interrupted) and release it. A legend that
    covers an axes' data area is first moved right of its axes (:func:`legends_outside`)."""
    legends_outside(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write(Path(path), buffer.getvalue())


def legends_outside(fig: plt.Figure) -> bool:
    """Move each axes' legend that overlaps the data area of any axes to the right of its own axes
    (:data:`LEGEND_OUTSIDE`) and lay the figure out again (``tight_layout``, which keeps legends inside the
    figure); True if any moved."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    areas = [ax.get_window_extent(renderer) for ax in fig.axes]
    moved = False
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None and any(legend.get_window_extent(renderer).overlaps(area) for area in areas):
            legend.set_loc(LEGEND_OUTSIDE["loc"])
            legend.set_bbox_to_anchor(LEGEND_OUTSIDE["bbox_to_anchor"], transform=ax.transAxes)
            legend.borderaxespad = LEGEND_OUTSIDE["borderaxespad"]
            moved = True
    if moved:
        fig.tight_layout()
    return moved


def metric_panels(summary: pd.DataFrame, x: str, line: str, metrics: Sequence[str],
                  labels: Sequence[str], title: str = "") -> plt.Figure:
    """One column of panels per metric: mean +- SEM against ``x``, one series per value of ``line``.

    ``summary`` is :func:`spikeloc.study.stats.summarise` output (long format). Accuracies are shown in percent.

    * Several ``x`` values: one line per series, at most :data:`MAX_SERIES` series per panel (more are split
      evenly over rows of panels, in order, the y range shared along a column); a series with a single ``x``
      value (an unconstrained reference, say) is drawn as a dashed level with its SEM band. The legend sits
      right of each row's last panel.
    * One ``x`` value (a grid with one value on that axis): no lines over an invented axis; each series is a
      horizontal bar (mean +- SEM) labelled on the y axis, the ``x`` value in the panel's title.
    """
    shown = summary[summary["metric"].isin(metrics)]
    x_values = shown[x].dropna().unique()
    if len(x_values) <= 1:
        return _bar_panels(shown, x, x_values, line, metrics, labels, title)
    series = list(shown.groupby(line, sort=True).groups)
    per_row = -(-len(series) // -(-len(series) // MAX_SERIES))  # as even as the rows allow: 17 -> 6, 6, 5
    rows = [series[i:i + per_row] for i in range(0, len(series), per_row)]
    fig, axes = plt.subplots(len(rows), len(metrics), figsize=(4 * len(metrics) + 1.6, 3.6 * len(rows)),
                             squeeze=False, sharey="col")
    for panels, row_series in zip(axes, rows):
        for ax, metric, label in zip(panels, metrics, labels):
            scale = 100 if metric in PERCENT_METRICS else 1
            rows_shown = shown[(shown["metric"] == metric) & shown[line].isin(row_series)]
            for value, group in rows_shown.groupby(line, sort=True):
                group = group.sort_values(x)
                mean, sem = group["mean"].to_numpy() * scale, group["sem"].fillna(0).to_numpy() * scale
                if len(group) == 1:
                    ax.axhline(mean[0], linestyle="--", color="grey", label=f"{line}={value}")
                    ax.axhspan(mean[0] - sem[0], mean[0] + sem[0], color="grey", alpha=0.15)
                else:
                    ax.errorbar(group[x], mean, yerr=sem, marker="o", capsize=3, label=f"{line}={value}")
            ax.set_xlabel(x)
            ax.set_ylabel(label)
            if metric in PERCENT_METRICS:
                ax.set_ylim(0, 100)
        panels[-1].legend(fontsize=8, **LEGEND_OUTSIDE)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _bar_panels(shown: pd.DataFrame, x: str, x_values, line: str, metrics: Sequence[str],
                labels: Sequence[str], title: str) -> plt.Figure:
    """:func:`metric_panels` for one ``x`` value: per metric, one horizontal bar (mean +- SEM) per series."""
    series = list(shown.groupby(line, sort=True).groups)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics) + 0.08 * max(map(len, map(str, series)))
                                                        + 1, 0.3 * len(series) + 1.6), squeeze=False, sharey=True)
    at = f"{x} = {x_values[0]}" if len(x_values) else f"no {x}"
    for ax, metric, label in zip(axes[0], metrics, labels):
        scale = 100 if metric in PERCENT_METRICS else 1
        rows = shown[shown["metric"] == metric].set_index(line).reindex(series)
        ax.barh(range(len(series)), rows["mean"] * scale, xerr=rows["sem"].fillna(0) * scale, capsize=3, color="C0")
        ax.set_yticks(range(len(series)), [str(s) for s in series], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.set_title(at, fontsize=9)
        if metric in PERCENT_METRICS:
            ax.set_xlim(0, 100)
    axes[0][0].set_ylabel(line)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def mean_confusion(table: pd.DataFrame, column: str = "test_confusion") -> np.ndarray:
    """Summed confusion counts of the ok runs in ``table``, each true class (column) normalised to 1."""
    counts = sum(np.array(json.loads(c)) for c in successful_runs(table)[column])
    return counts / np.maximum(counts.sum(axis=0, keepdims=True), 1)


def confusion_grid(table: pd.DataFrame, rows: str, columns: str, title: str = "") -> plt.Figure:
    """Mean confusion matrix (predicted vs true IPD, degrees) per condition ``rows`` x ``columns``."""
    row_values, column_values = sorted(table[rows].unique()), sorted(table[columns].unique())
    fig, axes = plt.subplots(len(row_values), len(column_values), squeeze=False,
                             figsize=(2.2 * len(column_values) + 1, 2.2 * len(row_values) + 0.6))
    for i, r in enumerate(row_values):
        for j, c in enumerate(column_values):
            ax = axes[i][j]
            cell = table[(table[rows] == r) & (table[columns] == c)]
            if len(successful_runs(cell)):
                ax.imshow(mean_confusion(cell), origin="lower", extent=(-90, 90, -90, 90), vmin=0, vmax=1)
            ax.set_title(f"{rows}={r}, {columns}={c}", fontsize=7)
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel("estimated IPD (deg)", fontsize=7)
            if i == len(row_values) - 1:
                ax.set_xlabel("true IPD (deg)", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def weight_grid(weights: np.ndarray, image_shape: Sequence[int], columns: int, rows: int | None = None,
                title: str = "") -> plt.Figure:
    """Each unit's incoming weights drawn as an image, ``columns`` x ``rows`` cells in unit order.

    ``weights`` (units, C*H*W) holds channel-major flattened images (as ``images.reshape(N, -1)`` of (N, C, H, W));
    ``image_shape`` is (C, H, W) with C = 1 (gray: a blue-white-red map symmetric about 0, scaled by the
    largest |weight|) or C = 3 (RGB: all weights mapped linearly from [min, max] to [0, 1]). ``rows`` defaults
    to as many as the units fill; cells beyond the last unit stay blank, units beyond the grid are not drawn.
    """
    weights = np.asarray(weights, dtype=float)
    channels, height, width = (int(size) for size in image_shape)
    require(weights.ndim == 2 and len(weights) >= 1, "weights", weights.shape, "shaped (units >= 1, inputs)")
    require(channels in (1, 3), "image_shape", tuple(image_shape), "(channels 1 or 3, height, width)")
    require(weights.shape[1] == channels * height * width, "image_shape", tuple(image_shape),
            f"of {weights.shape[1]} inputs per unit (the weights' width)")
    require(isinstance(columns, int) and columns >= 1, "columns", columns, "an integer >= 1")
    rows = -(-len(weights) // columns) if rows is None else rows
    require(isinstance(rows, int) and rows >= 1, "rows", rows, "an integer >= 1")
    shown = weights[:rows * columns]
    if channels == 3:
        low, high = shown.min(), shown.max()
        shown = (shown - low) / (high - low if high > low else 1.0)
    cells = np.full((rows * columns, height, width, channels), np.nan)
    cells[:len(shown)] = shown.reshape(len(shown), channels, height, width).transpose(0, 2, 3, 1)
    canvas = cells.reshape(rows, columns, height, width, channels).transpose(0, 2, 1, 3, 4)
    canvas = canvas.reshape(rows * height, columns * width, channels)
    fig, ax = plt.subplots(figsize=(min(0.5 * columns + 1, 12), min(0.5 * rows + 1, 12)))
    if channels == 3:
        ax.imshow(np.nan_to_num(canvas, nan=1.0))
    else:
        limit = np.nanmax(np.abs(canvas)) or 1.0
        colours = plt.get_cmap("bwr").with_extremes(bad="white")
        image = ax.imshow(np.ma.masked_invalid(canvas[..., 0]), cmap=colours, vmin=-limit, vmax=limit)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.axis("off")
    ax.set_title(title)
    return fig


def rate_heatmap(frame: pd.DataFrame, rows: Sequence[str], columns: Sequence[str], value: str, low: str,
                 high: str, title: str = "") -> plt.Figure:
    """Heat map of a rate in [0, 1] per (rows x columns) condition, each cell annotated ``value [low, high]``.

    ``frame`` has one row per condition; ``rows`` and ``columns`` name the columns whose value combinations
    form the map's rows and columns (in order of appearance). Missing combinations stay blank.
    """
    rows, columns = list(rows), list(columns)
    label = lambda keys: ", ".join(str(k) for k in (keys if isinstance(keys, tuple) else (keys,)))  # noqa: E731
    row_keys = list(dict.fromkeys(frame[rows].itertuples(index=False, name=None)))
    column_keys = list(dict.fromkeys(frame[columns].itertuples(index=False, name=None)))
    grid = np.full((len(row_keys), len(column_keys)), np.nan)
    fig, ax = plt.subplots(figsize=(1.1 * len(column_keys) + 2.5, 0.5 * len(row_keys) + 1.8))
    for record in frame.itertuples(index=False):
        record = record._asdict()
        i = row_keys.index(tuple(record[r] for r in rows))
        j = column_keys.index(tuple(record[c] for c in columns))
        grid[i, j] = record[value]
        ax.text(j, i, f"{record[value]:.2f}\n[{record[low]:.2f}, {record[high]:.2f}]", ha="center",
                va="center", fontsize=6, color="white" if record[value] < 0.5 else "black")
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(column_keys)), [label(k) for k in column_keys], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(row_keys)), [label(k) for k in row_keys], fontsize=7)
    ax.set_xlabel(", ".join(columns))
    ax.set_ylabel(", ".join(rows))
    fig.colorbar(image, ax=ax, label=value)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
