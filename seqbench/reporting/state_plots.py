"""Quality against state size (``seqbench plot RUN --kind state``), Zoology's axis (Arora et al.
2023, Fig. 2 and 3): a run that sweeps each cell's width (``hidden = [16, 32, 64]``) or its
state-size budget (``--state-size``) gives one point per cell × width, at the state the trials
recorded (``state_floats``: the floats a sequence carries, the Transformer's key/value cache at
the trial's T), joined into one line per cell; where a width ran several configurations (a
learning-rate grid), the one best on validation gives the point's test value. Takes DataFrames,
returns a Figure (no pyplot state), like ``reporting.plots``.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional

from seqbench.errors import UsageError


def has_state_sweep(results: Any, task: str, length: int) -> bool:
    """Whether some cell of ``task`` at T=``length`` ran at two or more state sizes."""
    import pandas as pd

    if "state_floats" not in results:
        return False
    at = results[(results["task"] == task) & (results["length"].astype(int) == int(length))]
    sizes = pd.to_numeric(at["state_floats"], errors="coerce")
    return bool(not at.empty and sizes.groupby(at["cell"]).nunique().max() > 1)


def best_on_validation(point: Any, metric: str, higher_is_better: bool) -> Any:
    """The rows of the one configuration (``config_label``) of ``point`` whose mean validation
    ``metric`` is best, where ``point`` holds several (a learning-rate grid at one width, as
    Zoology reports its best rate per width); ``point`` itself otherwise."""
    import pandas as pd

    val = f"val_{metric}"
    if "config_label" not in point or point["config_label"].nunique() < 2 or val not in point:
        return point
    means = pd.to_numeric(point[val], errors="coerce").groupby(point["config_label"]).mean().dropna()
    if means.empty:
        return point
    return point[point["config_label"] == (means.idxmax() if higher_is_better else means.idxmin())]


def metric_vs_state(results: Any, task: str, length: int, metric: str = "accuracy", higher_is_better: bool = True, *,
                    colors: Optional[Mapping[str, str]] = None, budget: str = "", chance: Optional[float] = None,
                    left_out: Optional[list[str]] = None) -> Any:
    """``metric`` of ``task`` at T=``length`` against the state size (log x), one line per cell
    through its widths, each point the mean over seeds labelled with the width (of the
    configuration best on validation, ``best_on_validation``, where a width has several); 95 % interval bars
    (``stats.interval``, drawn from its bounds) where a point has 3 or more seeds. ``chance``: a
    dashed line (the memoryless guess). Rows not ok or without a finite value are left out and
    counted in ``left_out``; UsageError when no cell has two state sizes to draw."""
    import pandas as pd

    from seqbench.reporting.plots import _bars, _figure, _legend, _plain_log_ticks, _title, _usable, log_if_wide
    from seqbench.stats import MIN_SEEDS, interval95

    left_out = [] if left_out is None else left_out
    at = results[(results["task"] == task) & (results["length"].astype(int) == int(length))]
    data = _usable(at, [metric, "state_floats"], left_out)
    if data.empty or pd.to_numeric(data["state_floats"]).groupby(data["cell"]).nunique().max() < 2:
        raise UsageError(f"a plot against state size needs a cell run at two or more state sizes; "
                         f"{task} at T={length} has none (sweep hidden or --state-size)")
    colors = colors or {}
    fig, (ax,) = _figure(8.5, 5.0)
    seeds = 1
    for cell, group in data.groupby("cell", sort=False):
        xs, ys, lows, highs, widths = [], [], [], [], []
        for state, point in group.groupby(pd.to_numeric(group["state_floats"]).astype(float)):
            point = best_on_validation(point, metric, higher_is_better)
            values = point[metric].astype(float).tolist()
            lo, hi = interval95(values, metric)
            seeds = max(seeds, len(values))
            xs.append(state), ys.append(sum(values) / len(values)), lows.append(lo), highs.append(hi)
            widths.append("/".join(str(int(h)) for h in sorted(set(point["hidden"].astype(int)))))
        drawn, yerr, _ = _bars(ys, lows, highs)
        color = colors.get(cell, "black")
        ax.errorbar(xs, drawn, yerr=yerr, color=color, label=cell, marker="o", capsize=3, linewidth=1.4)
        for x, y, width in zip(xs, drawn, widths):
            ax.annotate(width, (x, y), textcoords="offset points", xytext=(3, 4), fontsize=6.5, color=color)
    if chance is not None and math.isfinite(float(chance)):
        ax.axhline(float(chance), color="0.4", linestyle="--", linewidth=1, label=f"chance {float(chance):.3g}")
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    log = log_if_wide(ax, data[metric], metric)
    if metric == "accuracy":
        ax.set_ylim(-0.02, 1.07)  # room for the width labels of points at 1
    ax.set_xlabel("state size (floats carried per sequence, log scale; each point labelled with its width)")
    ax.set_ylabel(f"{metric} ({'higher' if higher_is_better else 'lower'} is better{', log scale' if log else ''})")
    ax.grid(alpha=0.3, which="both")
    bars = "95% interval" if seeds >= MIN_SEEDS else "no interval (fewer than 3 seeds)"
    _legend(ax, title=f"mean over {seeds} seed{'s' * (seeds != 1)},\n{bars}", fontsize=7.5, title_fontsize=7.5,
            loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{_title(f'{metric} against state size', task, length, '')}\n{budget}", fontsize=10)
    return fig
