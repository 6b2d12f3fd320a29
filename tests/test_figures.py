"""Every study's quick-preset figures, drawn from synthetic tables shaped like the studies' own (each study's grid,
seeds and metrics; no training), through the studies' figure functions or the plot helpers exactly as the studies
call them, then saved as the studies save them (:func:`spikeloc.study.plots.save_figure`). Checked on the drawn
figure: no legend covers any axes' data area, no panel holds more than :data:`~spikeloc.study.plots.MAX_SERIES`
labelled series, and every plotted x axis spans more than one value (a grid with one value on an axis is drawn
as points or bars, not as lines over an invented axis)."""

import dataclasses
import importlib
import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from spikeloc.study.plots import MAX_SERIES, metric_panels, plt, rate_heatmap, save_figure, weight_grid
from spikeloc.study.selection import choose_on_validation
from spikeloc.study.stats import summarise



def study(name):
    """A study's module (spikeloc.studies)."""
    return importlib.import_module(f"spikeloc.studies.{name}")


def synthetic_runs(runs, seeds, metrics, seed=0, **columns) -> pd.DataFrame:
    """One ok row per run config and seed: the config's fields, random metric values in plausible ranges
    (accuracies in [0.3, 1), others in [0, 10)), plus ``columns`` (name -> function of the row)."""
    rng = np.random.default_rng(seed)
    rows = []
    for run in runs:
        for s in seeds:
            row = {**dataclasses.asdict(run), "seed": s, "status": "ok"}
            row.update({m: rng.uniform(0.3, 1.0) if m.endswith("_acc") else rng.uniform(0, 10) for m in metrics})
            row.update({name: make(row, rng) for name, make in columns.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def data_axes(fig):
    """The axes that plot data against an x axis (not images, colour bars or hidden axes)."""
    return [ax for ax in fig.axes if ax.axison and not ax.images and ax.get_label() != "<colorbar>"]


def check(fig):
    """The figure's layout rules (module docstring), on the figure as drawn."""
    assert fig.axes, "the figure has no axes"
    canvas = FigureCanvasAgg(fig)  # a saved figure is closed: its pyplot canvas is gone
    canvas.draw()
    renderer = canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), \
                f"a legend ({len(legend.get_texts())} entries) covers the data of axes {ax.get_title()!r}"
        assert len(legend.get_texts()) <= MAX_SERIES, f"a legend with {len(legend.get_texts())} series"
    for ax in data_axes(fig):
        limits = ax.dataLim
        assert np.isfinite([limits.x0, limits.x1]).all() and limits.x1 > limits.x0, \
            f"axes {ax.get_title()!r} plots its data at one x value ({limits.x0}) or none"


def render(fig, tmp_path, name):
    """Save as the studies do, then check the saved figure."""
    save_figure(fig, tmp_path / f"{name}.png")
    check(fig)


# ------------------------------------------------------------------------------------------------- studies
@pytest.mark.parametrize("name", ["robustness", "dales_law"])
def test_ipd_studies_metric_panels(name, tmp_path):
    module = study(name)
    preset = module.PRESETS["quick"]
    runs = module.grid(preset, ["robust"], preset["sizes"])
    confusion = lambda row, rng: json.dumps(rng.integers(0, 20, (12, 12)).tolist())  # noqa: E731
    table = synthetic_runs(runs, preset["seeds"], module.METRICS, test_confusion=confusion)
    x, line = ("phase_noise_rad", "dropout") if name == "robustness" else ("ie_ratio", "dale_layers")
    summary = summarise(table, ["phase_offset", line, x], module.METRICS)
    render(metric_panels(summary, x=x, line=line, metrics=list(module.PANELS), labels=list(module.PANELS.values()),
                         title="robust protocol"), tmp_path, name)
    if name == "robustness":
        from spikeloc.study.plots import confusion_grid
        render(confusion_grid(table, rows="dropout", columns="phase_noise_rad"), tmp_path, "confusion")


def test_competing_units_accuracy_against_hidden_size(tmp_path):
    """The quick preset has one hidden size and 21 readout / stack lines: the figure this test was written for."""
    module = study("competing_units")
    preset = module.PRESETS["quick"]
    runs = module.grid(preset, preset["sizes"])
    table = synthetic_runs(runs, preset["seeds"], module.METRICS)
    # as the study's main(): choose on validation, summarise, one line per readout and stack at the base p, k, delta
    chosen = module.with_chosen_decoder(choose_on_validation(module.named(table), module.CONDITION))
    chosen_summary = summarise(chosen, module.CONDITION, module.METRICS)
    base = runs[0]
    at_base = (chosen_summary[["p", "k", "delta"]] == [base.p, base.k, base.delta]).all(axis=1)
    lines = chosen_summary[at_base].assign(line=lambda s: s["readout_name"] + " / " + s["stack"])
    assert lines["line"].nunique() > MAX_SERIES and lines["hidden_units"].nunique() == 1  # what made it unreadable
    render(metric_panels(lines, x="hidden_units", line="line", metrics=["test_acc"], labels=["test accuracy (%)"],
                         title="MNIST-5k"), tmp_path, "accuracy_vs_hidden")
    weights = np.random.default_rng(0).normal(size=(base.hidden_units, 784))
    render(weight_grid(weights, (1, 28, 28), columns=20, rows=5, title="competing units"), tmp_path, "weights")


def test_bio_plasticity_ablation(tmp_path):
    module = study("bio_plasticity")
    preset = module.PRESETS["quick"]
    table = synthetic_runs(module.grid(preset, {}), preset["seeds"], module.METRICS)
    render(module.ablation_figure(table, module.comparisons_with_none(table)), tmp_path, "ablation")


def test_ipd_beyond_options(tmp_path):
    module = study("ipd_beyond")
    preset = module.PRESETS["quick"]
    runs, labels = module.grid(preset, ["robust"], preset["sizes"])
    taus = lambda row, rng: json.dumps(rng.gamma(3, 5 / 3, 30).tolist())  # noqa: E731
    table = module.label(synthetic_runs(runs, preset["seeds"], module.METRICS, hidden_tau_ms=taus,
                                        readout_tau_ms=taus), labels)
    summary = summarise(table, by=["phase_offset", "dale", "option"], metrics=module.METRICS)
    render(module.accuracy_figure(summary, preset["options"]), tmp_path, "ipd_beyond_accuracy")
    render(module.learned_figure(table), tmp_path, "ipd_beyond_learned")


def test_neuromodulation_curves_and_variance_histories(tmp_path):
    module = study("neuromodulation")
    preset = module.PRESETS["quick"]
    runs = module.grid(preset, {})
    from spikeloc.substrate.noise import REFERENCES
    scales = (0.0, 0.1, 0.3, 0.5)
    curves = {f"acc_{reference}_{scale}": (lambda row, rng: rng.uniform(0.3, 1.0))
              for reference in REFERENCES for scale in scales}
    history = lambda row, rng: (json.dumps({"input": rng.uniform(0.01, 1, 4).tolist(),  # noqa: E731
                                            "readout": rng.uniform(0.01, 1, 4).tolist()})
                                if row["training"].startswith("learned") else None)
    table = module.label_variants(synthetic_runs(runs, preset["seeds"], [], std_history=history, **curves), preset)
    render(module.robustness_figure(table), tmp_path, "robustness_curve")
    render(module.variance_figure(table), tmp_path, "variance_history")


def test_hebbian_success_heat_map(tmp_path):
    rng = np.random.default_rng(0)
    cells = pd.DataFrame([dict(task=task, hidden_sizes="(2,)", rule_label=rule, success_rate=rate,
                               ci_low=max(rate - 0.2, 0), ci_high=min(rate + 0.2, 1))
                          for task in ("and", "xor") for rule in ("seed_supervised", "hebbian", "oja", "learned(and)")
                          for rate in [rng.uniform()]])
    render(rate_heatmap(cells, rows=["task", "hidden_sizes"], columns=["rule_label"], value="success_rate",
                        low="ci_low", high="ci_high", title="rate networks"), tmp_path, "hebbian_rate")


# ------------------------------------------------------------------------------------------------ the rules
def summary_of(lines: int, xs) -> pd.DataFrame:
    return pd.DataFrame([dict(series=f"s{i}", x=x, metric="test_acc", mean=0.5 + 0.01 * i, sem=0.01)
                         for i in range(lines) for x in xs])


def test_one_x_value_gives_bars_not_lines(tmp_path):
    fig = metric_panels(summary_of(3, [100]), x="x", line="series", metrics=["test_acc"], labels=["acc"])
    connecting = [line for ax in fig.axes for line in ax.lines
                  if len(line.get_xdata()) > 1 and line.get_linestyle() not in ("None", "", " ")]
    assert not connecting and len(fig.axes[0].patches) == 3
    render(fig, tmp_path, "bars")


def test_more_series_than_a_panel_holds_are_split_over_panels(tmp_path):
    fig = metric_panels(summary_of(2 * MAX_SERIES + 1, [1, 2, 3]), x="x", line="series", metrics=["test_acc"],
                        labels=["acc"])
    drawn = [text.get_text() for ax in fig.axes if ax.get_legend() for text in ax.get_legend().get_texts()]
    assert len(fig.axes) == 3 and sorted(drawn) == sorted(f"series=s{i}" for i in range(2 * MAX_SERIES + 1))
    render(fig, tmp_path, "split")


def test_a_legend_a_study_puts_inside_its_axes_is_moved_out_when_saved(tmp_path):
    fig, ax = plt.subplots(figsize=(4, 3))
    for i in range(5):
        ax.plot([0, 1, 2], [i, i, i], label=f"line {i}")
    ax.legend(loc="center")  # squarely on the data
    with pytest.raises(AssertionError, match="covers"):
        check(fig)
    render(fig, tmp_path, "moved")
