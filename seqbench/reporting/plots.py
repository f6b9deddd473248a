"""Figures of a run (matplotlib, no pyplot state): each function takes DataFrames and returns a
``matplotlib.figure.Figure``, for notebooks as for ``seqbench plot`` and the HTML report.

- ``learning_curves``: validation loss against step and against training seconds, mean and
  a min–max band over seeds, the task's baseline and known optimum as labelled lines;
- ``metric_vs_length``: the primary metric against T, one line per cell, 95 % interval bars;
- ``speed_scaling``: training and inference tokens/s against T (log–log, the fitted exponent
  in the legend), generation ms/token against T, % of the matmul peak;
- ``pareto``: quality against training throughput, one point per cell;
- ``solved_vs_length``: a horizon search's solved fraction of seeds against T, each cell's
  horizon marked;
- ``generalization``: a run with ``--eval-lengths``: the primary metric against the evaluated
  length, the trained length marked;
- ``mad``: a MAD run (``--suite mad``): cells × tasks coloured by score (``reporting.mad_plots``);
- ``metric_vs_state`` (``state``): a run that sweeps widths (``hidden = [16, 32, 64]``) or
  ``--state-size``: quality against the state each trial carried (``state_floats``, the
  Transformer's key/value cache at T), one line per cell through its widths; where a width ran
  several configurations (a learning-rate grid), the one best on validation gives the point
  (Zoology's axis, Arora et al. 2023, Fig. 2 and 3).

One colour per cell across every figure of a run (``palette``: Okabe–Ito, colour-blind safe).
A loss axis is logarithmic when its values span more than two decades (``log_if_wide``). Error
bars are drawn from the interval's bounds (``_bars``). Each function draws what it can: rows
that did not finish ok or hold a NaN/inf are left out and said so in the ``left_out`` list it
is given; with nothing to draw it raises UsageError. ``figures(run_dir, kind)`` builds every
figure of a run directory by name, its ``notes`` saying what was left out.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

from seqbench.errors import UsageError
from seqbench.tasks.base import primary_metric

# Okabe & Ito (2008), reordered so the first colours are the most distinct on white
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
# a ninth cell and beyond (the modern layers beside the classic four): Paul Tol's muted scheme, darkest first
TOL_MUTED = ("#882255", "#332288", "#999933", "#44AA99", "#AA4499", "#117733", "#CC6677", "#DDCC77")
KINDS = ("curves", "length", "speed", "pareto", "horizon", "generalization", "mad", "state")
FORMATS = ("png", "svg", "pdf")
INSTALL_HINT = "plots need matplotlib: pip install 'seqbench[plots]'"


def require_matplotlib() -> None:
    """UsageError (one line, exit 2) naming the extra to install when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(INSTALL_HINT) from None


def palette(cells: Sequence[str]) -> dict[str, str]:
    """A colour per cell, in the order given (the run's order, so every figure agrees): Okabe–Ito's
    eight, then Tol's muted eight, so up to 16 cells never share a colour."""
    colours = OKABE_ITO + TOL_MUTED
    return {cell: colours[i % len(colours)] for i, cell in enumerate(dict.fromkeys(cells))}


class Figures(dict):
    """Figures by file stem, and ``notes``: what was left out of them (or of the set), one
    phrase each; ``left_out_line`` joins them into the one line the CLI prints."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[str] = []


def left_out_line(notes: Sequence[str]) -> str:
    """The one line saying what the figures left out ("" when nothing was)."""
    return f"left out of the figures: {'; '.join(dict.fromkeys(notes))}" if notes else ""


def is_loss(metric: str) -> bool:
    """Whether ``metric`` is a loss-like quantity (positive, spanning decades as training goes)."""
    return metric in ("loss", "val_loss", "perplexity") or metric.endswith("_loss")


def log_if_wide(ax: Any, values: Any, metric: str = "loss", axis: str = "y") -> bool:
    """Make ``axis`` logarithmic for a loss whose plotted values are all positive and span more
    than two decades (losses from solved, 1e-4, to the baseline, ~1, stay readable); whether it did."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not is_loss(metric) or not finite or min(finite) <= 0 or max(finite) <= 100 * min(finite):
        return False
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    return True


def _bars(points: Sequence[float], lows: Sequence[float], highs: Sequence[float]
          ) -> tuple[list[float], list[list[float]], list[int]]:
    """Error bars drawn from the intervals themselves: (points, [below, above], moved) such that
    each bar spans exactly [low, high]; no bar where the interval is unknown (NaN).
    Decided: a point is the table's mean; ``stats.interval`` always contains it, but should an
    interval not (a caller's own), the point is clipped to the nearest bound and ``moved`` lists
    those points so the caller can say so."""
    drawn, below, above, moved = [], [], [], []
    for i, (y, lo, hi) in enumerate(zip(points, lows, highs)):
        y, lo, hi = float(y), float(lo), float(hi)
        if math.isnan(lo) or math.isnan(hi):
            drawn.append(y), below.append(0.0), above.append(0.0)
            continue
        clipped = min(max(y, lo), hi)
        if abs(clipped - y) > 1e-9 * max(1.0, abs(y)):  # not the last bit of a mean of equal values
            moved.append(i)
        drawn.append(clipped), below.append(clipped - lo), above.append(hi - clipped)
    return drawn, [below, above], moved


def _usable(data: Any, columns: Sequence[str], left_out: list[str],
            keys: Sequence[str] = ("task", "length", "cell"), unit: str = "seed") -> Any:
    """The rows of ``data`` that finished ok with a finite value in every one of ``columns``;
    the others are counted in ``left_out``, one phrase per ``keys`` group."""
    import numpy as np
    import pandas as pd

    ok = data["status"].astype(str) == "ok" if "status" in data else pd.Series(True, index=data.index)
    finite = ok.copy()
    for column in columns:
        values = pd.to_numeric(data[column], errors="coerce") if column in data else pd.Series(np.nan, data.index)
        finite &= np.isfinite(values.astype(float))
    keys = [k for k in keys if k in data]
    for key, group in data[~finite].groupby(keys, sort=False) if keys and not finite.all() else ():
        where = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        total = int((data[keys] == pd.Series(where)).all(axis=1).sum())
        parts = [f"{n} {status}" for status, n in group["status"].astype(str).value_counts().items()
                 if status != "ok"] if "status" in group else []
        bad = int((group["status"].astype(str) == "ok").sum()) if "status" in group else len(group)
        if bad:
            parts.append(f"{bad} without a finite {'/'.join(columns)}")
        label = [str(where[k]) for k in ("cell", "task") if k in where]
        label += [f"T={where['length']}"] if "length" in where else []
        label += [f"evaluated at {where['eval_length']}"] if "eval_length" in where else []
        left_out.append(f"{' '.join(label)}: {', '.join(parts)} (of {total} {unit}{'s' * (total != 1)})")
    return data[finite]


def _plain_log_ticks(axis: Any) -> None:
    """A log axis (``ax.xaxis``) labelled in plain numbers (2,000 5,000 10,000): at 1, 2 and 5 × 10^k
    when the data span two decades or less, else at powers of ten; no minor labels (they collide)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = sorted(axis.get_view_interval())
    narrow = low > 0 and high / low <= 100
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,), numticks=12))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _legend(ax: Any, **kwargs: Any) -> None:
    """A legend, only when something carries a label (else matplotlib warns on stderr)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def _figure(width: float = 10.0, height: float = 4.0, axes: int = 1) -> tuple[Any, list]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, [fig.add_subplot(1, axes, i + 1) for i in range(axes)]


def _length_axis(ax: Any, lengths: Sequence[int], first: Sequence[int] = ()) -> None:
    """A log₂ x axis for T with a tick at every measured length, labelled where the label has
    room: the lengths in ``first`` (say, each cell's horizon), then the others from the
    shortest, each at least 4.5 % of the axis away from a labelled one."""
    ax.set_xscale("log", base=2)
    ticks = sorted({int(t) for t in lengths})
    room = 0.045 * math.log2(max(ticks) / min(ticks)) if len(ticks) > 1 else 1.0
    labelled: list[int] = []
    for t in [*(int(f) for f in first if int(f) in ticks), *ticks]:
        if all(abs(math.log2(t / other)) >= room for other in labelled):
            labelled.append(t)
    ax.set_xticks(ticks, [f"{t:,}" if t in labelled else "" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("sequence length T (tokens, log scale)")


def _ref_lines(ax: Any, baseline: Optional[float], optimum: Optional[float]) -> None:
    for value, label, style in ((baseline, "baseline", "--"), (optimum, "optimum", ":")):
        if value is not None and math.isfinite(float(value)) and (ax.get_yscale() != "log" or float(value) > 0):
            ax.axhline(float(value), color="0.4", linestyle=style, linewidth=1, label=f"{label} {float(value):.4g}")


def learning_curves(curves: Any, task: str, length: int, *, baseline: Optional[float] = None,
                    optimum: Optional[float] = None, colors: Optional[Mapping[str, str]] = None,
                    budget: str = "", left_out: Optional[list[str]] = None,
                    configs: Optional[Mapping[str, str]] = None) -> Any:
    """Validation loss of ``task`` at T=``length`` against step (left) and training seconds
    (right): per cell the mean over seeds and a min–max band; baseline and optimum dashed. With
    ``configs`` (trial key → configuration label) and a cell run in several configurations, one
    line per cell × configuration (one line style per configuration), never seeds pooled across
    configurations. An evaluation whose loss is NaN/inf is left out (and counted in ``left_out``);
    the loss axis is logarithmic when the losses span more than two decades."""
    import numpy as np

    left_out = [] if left_out is None else left_out
    at = curves[(curves["task"] == task) & (curves["length"] == length)]
    evaluations = at[at["val_loss"].notna() | at["loss"].isna()] if "loss" in at else at  # a training line has a loss
    finite = np.isfinite(evaluations["val_loss"].astype(float))
    for cell, n in evaluations[~finite].groupby("cell", sort=False).size().items():
        left_out.append(f"{cell} {task} T={length}: {n} evaluation{'s' * (n != 1)} with a NaN/inf validation loss")
    data = evaluations[finite]
    if data.empty:
        raise UsageError(f"no finite validation loss for {task} at T={length}")
    colors = colors or palette(data["cell"])
    fig, (by_step, by_time) = _figure(11, 4.2, 2)
    configs = configs or {}
    data = data.assign(_config=[configs.get(t, "") for t in data["trial"]] if "trial" in data else "")
    if data.groupby("cell")["_config"].nunique().max() < 2:
        data = data.assign(_config="")  # one configuration per cell: a line per cell
    styles = {c: ("-", "--", ":", "-.")[i % 4] for i, c in enumerate(dict.fromkeys(data["_config"]))}
    for (cell, config), group in data.groupby(["cell", "_config"], sort=False):
        color, style = colors.get(cell, "black"), styles[config]
        label = f"{cell} · {config}" if config else cell
        by = group.groupby("step")
        mean, low, high = by["val_loss"].mean(), by["val_loss"].min(), by["val_loss"].max()
        by_step.plot(mean.index, mean.values, color=color, linestyle=style, label=label, marker="o", markersize=3)
        by_step.fill_between(mean.index, low.values, high.values, color=color, alpha=0.18, linewidth=0)
        seconds = by["train_s"].mean()
        by_time.plot(seconds.values, mean.values, color=color, linestyle=style, label=label, marker="o", markersize=3)
        by_time.fill_between(seconds.values, low.values, high.values, color=color, alpha=0.18, linewidth=0)
    log = log_if_wide(by_step, data["val_loss"])
    if log:
        by_time.set_yscale("log")
    for ax, xlabel in ((by_step, "training step"), (by_time, "training time (s, evaluation excluded)")):
        _ref_lines(ax, baseline, optimum)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation loss" + (" (log scale)" if log else ""))
        ax.grid(alpha=0.3, which="both" if log else "major")
    seeds = int(data.groupby(["cell", "_config"])["trial"].nunique().max())
    handles, labels = by_step.get_legend_handles_labels()  # beside the axes: curves fill them
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, title_fontsize=8,
               title=f"mean, band:\nmin–max over\n{seeds} seeds" if seeds > 1 else "1 seed")
    fig.suptitle(_title("learning curves", task, length, budget))
    return fig


def metric_vs_length(results: Any, task: str, metric: str = "loss", higher_is_better: bool = False, *,
                     colors: Optional[Mapping[str, str]] = None, budget: str = "",
                     baseline: Optional[Mapping[int, float]] = None, left_out: Optional[list[str]] = None) -> Any:
    """``metric`` of ``task`` against T, one line per cell: the mean over seeds and, as error
    bars, its 95 % interval (``stats.interval``: in the metric's domain, containing the mean; none
    below 3 seeds) drawn from its bounds (``_bars``). Seeds not ok or without a finite value are
    left out and counted."""
    from seqbench.stats import MIN_SEEDS, interval95

    left_out = [] if left_out is None else left_out
    of_task = results[results["task"] == task]
    if of_task["length"].nunique() < 2:
        raise UsageError(f"a plot against length needs two or more lengths; task '{task}' ran at one")
    data = _usable(of_task, [metric], left_out)
    if data["length"].nunique() < 2:
        raise UsageError(f"fewer than two lengths of '{task}' have a seed that finished ok with a finite {metric}")
    colors = colors or palette(data["cell"])
    fig, (ax,) = _figure(7, 4.5)
    for cell, group in data.groupby("cell", sort=False):
        xs, ys, lows, highs = [], [], [], []
        for length, at in group.groupby("length"):
            values = at[metric].astype(float).tolist()
            lo, hi = interval95(values, metric)
            xs.append(length), ys.append(sum(values) / len(values)), lows.append(lo), highs.append(hi)
        drawn, yerr, moved = _bars(ys, lows, highs)
        for i in moved:
            left_out.append(f"{cell} {task} T={xs[i]}: mean {metric} {ys[i]:.4g} lies outside its 95% interval "
                            f"[{lows[i]:.4g}, {highs[i]:.4g}], drawn at the bound")
        ax.errorbar(xs, drawn, yerr=yerr, color=colors.get(cell, "black"), label=cell, marker="o", capsize=3)
    if baseline:
        points = sorted(baseline.items())
        ax.plot([p[0] for p in points], [p[1] for p in points], color="0.4", linestyle="--", linewidth=1,
                label="baseline")
    _length_axis(ax, data["length"])
    log = log_if_wide(ax, data[metric], metric)
    ax.set_ylabel(f"{metric} ({'higher' if higher_is_better else 'lower'} is better{', log scale' if log else ''})")
    ax.grid(alpha=0.3, which="both")
    seeds = int(data.groupby(["cell", "length"])["seed"].nunique().max()) if "seed" in data else 1
    bars = "95% interval" if seeds >= MIN_SEEDS else "no interval (n too small)" if seeds > 1 else "no interval"
    _legend(ax, title=f"mean over {seeds} seed{'s' * (seeds != 1)}, {bars}", fontsize=8)
    ax.set_title(_title(f"{metric} against length", task, None, budget))
    return fig


# --------------------------------------------------------------------------- quality against state size


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

    from seqbench.stats import MIN_SEEDS, interval95

    left_out = [] if left_out is None else left_out
    at = results[(results["task"] == task) & (results["length"].astype(int) == int(length))]
    data = _usable(at, [metric, "state_floats"], left_out)
    if not has_state_sweep(data, task, length):  # of the rows it can draw
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


def speed_scaling(speed: Any, scaling: Any = None, *, colors: Optional[Mapping[str, str]] = None,
                  budget: str = "", left_out: Optional[list[str]] = None) -> Any:
    """A ``seqbench speed`` run: training and inference tokens/s against T (log–log; legend:
    the fitted exponent b of time ∝ T^b), generation ms/token against T, % of the matmul peak.
    Rows that are not ok are left out and counted in ``left_out``."""
    data = _usable(speed, [], [] if left_out is None else left_out, keys=("cell", "length"), unit="row")
    data = data.sort_values("length")
    if data.empty:
        raise UsageError("no speed measurement finished ok")
    colors = colors or palette(data["cell"])
    exponents = {} if scaling is None or scaling.empty else scaling.set_index("cell").to_dict("index")
    fig, (tok, gen, peak) = _figure(15, 4.5, 3)
    for cell, group in data.groupby("cell", sort=False):
        color, fit = colors.get(cell, "black"), exponents.get(cell, {})
        for what, style in (("train", "-"), ("infer", "--")):
            b = fit.get(f"{what}_exponent", math.nan)
            label = f"{cell} {what}" + ("" if b is None or math.isnan(b) else f" (time ∝ T^{b:.2f})")
            tok.plot(group["length"], group[f"{what}_tok_s"], color=color, linestyle=style, marker="o",
                     markersize=3, label=label)
            peak.plot(group["length"], group[f"{what}_pct_peak"], color=color, linestyle=style, marker="o",
                      markersize=3, label=f"{cell} {what}")
        gen.plot(group["length"], group["gen_ms_per_tok"], color=color, marker="o", markersize=3, label=cell)
    tok.set_yscale("log")
    tok.set_ylabel("tokens/s (log scale)")
    tok.set_title("throughput: training (solid), inference (dashed)")
    gen.set_ylabel("ms per generated token (log scale)")
    gen.set_title("generation after a prompt of length T")
    peak.set_ylabel("% of matmul peak (GFLOP/s)")
    peak.set_title("achieved / measured matmul peak")
    gen.set_yscale("log")
    for ax in (tok, gen, peak):
        _length_axis(ax, data["length"])
        ax.grid(alpha=0.3, which="both")
        _legend(ax, fontsize=7)
    where = ""
    if not data.empty:
        first = data.iloc[0]
        where = f"batch {first.get('batch', '?')}, {first.get('dtype', '')} on {first.get('device', '')}"
    fig.suptitle(" · ".join(x for x in ("speed", where, budget) if x))
    return fig


def pareto(results: Any, task: str, length: int, metric: str = "loss", higher_is_better: bool = False, *,
           colors: Optional[Mapping[str, str]] = None, budget: str = "", left_out: Optional[list[str]] = None) -> Any:
    """``metric`` against training tokens/s at ``task`` × T=``length``, one point per cell
    (mean over seeds, bars: min–max over seeds); better is up-right or down-right. Seeds not ok
    or without a finite metric and throughput are left out and counted in ``left_out``; the
    metric axis is logarithmic for a loss spanning more than two decades."""
    left_out = [] if left_out is None else left_out
    at = results[(results["task"] == task) & (results["length"] == length)]
    data = _usable(at, [metric, "train_tok_s"], left_out)
    data = data[data["train_tok_s"].astype(float) > 0]  # a log axis
    if data.empty:
        raise UsageError(f"no seed of {task} at T={length} finished ok with a finite {metric} and throughput")
    colors = colors or palette(data["cell"])
    fig, (ax,) = _figure(6.5, 4.5)
    for cell, group in data.groupby("cell", sort=False):
        x, y = group["train_tok_s"].astype(float), group[metric].astype(float)
        (px,), xerr, _ = _bars([x.mean()], [x.min()], [x.max()])
        (py,), yerr, _ = _bars([y.mean()], [y.min()], [y.max()])
        ax.errorbar([px], [py], xerr=xerr, yerr=yerr, color=colors.get(cell, "black"), marker="o",
                    markersize=7, capsize=3, linestyle="none", label=cell)
        ax.annotate(cell, (px, py), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    log = log_if_wide(ax, data[metric], metric)
    ax.set_xlabel("training throughput (tokens/s, log scale)")
    ax.set_ylabel(f"{metric} ({'higher' if higher_is_better else 'lower'} is better{', log scale' if log else ''})")
    ax.grid(alpha=0.3, which="both")
    seeds = int(data.groupby("cell")["seed"].nunique().max()) if "seed" in data else 1
    _legend(ax, title=f"mean; bars: min–max over {seeds} seeds" if seeds > 1 else "1 seed", fontsize=8)
    ax.set_title(_title(f"{metric} against throughput", task, length, budget))
    return fig


def solved_vs_length(results: Any, horizons: Mapping[str, Optional[int]], task: str, seeds: int, *,
                     colors: Optional[Mapping[str, str]] = None, budget: str = "",
                     bounds: Optional[Mapping[str, str]] = None) -> Any:
    """A horizon search: per cell and probed T, the fraction of the seeds run that solved it
    (bars: Wilson 95 % interval over those seeds, drawn from its bounds), the majority line at
    0.5 and each cell's horizon as a dotted vertical line; ``bounds`` marks a censored horizon
    (``≥``: the longest length probed was solved). Cells are nudged apart along T so that equal
    points stay visible. A diverged seed counts as unsolved."""
    from seqbench.stats import wilson

    data = results[results["task"] == task]
    if data.empty:
        raise UsageError(f"no trial of {task} in the horizon search")
    colors = colors or palette(data["cell"])
    fig, (ax,) = _figure(8, 4.6)
    cells = sorted(dict.fromkeys(data["cell"]), key=lambda c: list(colors).index(c) if c in colors else len(colors))
    for i, cell in enumerate(cells):
        group = data[data["cell"] == cell]
        xs, ys, lows, highs = [], [], [], []
        for length, at in group.groupby("length"):
            solved = [float(str(v) in ("True", "true", "1", "1.0")) for v in at["solved"]]
            mean = sum(solved) / len(solved)
            lo, hi = wilson(int(sum(solved)), len(solved)) if len(solved) > 1 else (mean, mean)
            xs.append(float(length) * 1.025 ** (i - (len(cells) - 1) / 2))
            ys.append(mean), lows.append(lo), highs.append(hi)
        ys, yerr, _ = _bars(ys, lows, highs)  # Wilson's interval always holds the rate
        color = colors.get(cell, "black")
        horizon = horizons.get(cell)
        shortest = int(group["length"].astype(int).min())  # nothing solved: below the shortest length probed
        bound = (bounds or {}).get(cell) or ""
        label = (f"{cell}: horizon {bound + ' ' if bound else ''}{horizon:,}" if horizon
                 else f"{cell}: horizon < {shortest:,}")
        ax.errorbar(xs, ys, yerr=yerr, color=color, marker="o", linestyle="none", capsize=3, label=label)
        if horizon:
            ax.axvline(horizon, color=color, linestyle=":", linewidth=1.5)
    ax.axhline(0.5, color="0.4", linestyle="--", linewidth=1, label="majority")
    _length_axis(ax, data["length"], first=[h for h in horizons.values() if h])
    ax.tick_params(axis="x", labelrotation=45)
    lengths = data["length"].astype(float)
    ax.set_xlim(lengths.min() / 1.3, lengths.max() * 1.3)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel(f"solved fraction of seeds run (of {seeds})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(title="dotted: horizon, the longest T\nsolved by a majority of seeds;\nbars: Wilson 95% interval",
              fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{task} · memory horizon: solved fraction against length" + (f"\n{budget}" if budget else ""),
                 fontsize=10)
    return fig


def generalization(frame: Any, task: str, length: int, metric: str = "loss", higher_is_better: bool = False, *,
                   colors: Optional[Mapping[str, str]] = None, budget: str = "",
                   left_out: Optional[list[str]] = None) -> Any:
    """Models trained at T=``length`` evaluated at other lengths: ``metric`` against the evaluated
    length, one line per cell (mean over seeds, bars: min–max), the trained length dotted and,
    for a loss, the baseline at each length dashed. Rows not ok or without a finite metric are
    left out and counted in ``left_out``."""
    at = frame[(frame["task"] == task) & (frame["length"].astype(int) == int(length))]
    data = _usable(at, [metric], [] if left_out is None else left_out,
                   keys=("task", "length", "eval_length", "cell"))
    if data.empty:
        raise UsageError(f"no model of {task} trained at T={length} has a finite {metric} at any evaluated length")
    colors = colors or palette(data["cell"])
    fig, (ax,) = _figure(7, 4.5)
    order = {cell: i for i, cell in enumerate(colors)}
    for cell, group in sorted(data.groupby("cell", sort=False), key=lambda item: order.get(item[0], len(order))):
        by = group.groupby("eval_length")[metric]
        mean, low, high = by.mean(), by.min(), by.max()
        points, yerr, _ = _bars(mean.values, low.values, high.values)
        ax.errorbar(mean.index, points, yerr=yerr, color=colors.get(cell, "black"), marker="o", capsize=3, label=cell)
    if metric == "loss" and "baseline" in data:
        base = data.groupby("eval_length")["baseline"].max()
        ax.plot(base.index, base.values, color="0.4", linestyle="--", linewidth=1, label="baseline")
    ax.axvline(int(length), color="0.3", linestyle=":", linewidth=1, label=f"trained at T={int(length):,}")
    _length_axis(ax, data["eval_length"])
    log_if_wide(ax, data[metric], metric)
    ax.set_xlabel("evaluated length T (tokens, log scale)")
    ax.set_ylabel(f"{metric} on the test set ({'higher' if higher_is_better else 'lower'} is better)")
    ax.grid(alpha=0.3, which="both")
    seeds = int(data.groupby(["cell", "eval_length"])["seed"].nunique().max())
    _legend(ax, title=f"mean over {seeds} seed{'s' * (seeds != 1)}, bars: min–max", fontsize=8, title_fontsize=8)
    ax.set_title(_title("length generalization", task, int(length), budget))
    return fig


def _title(what: str, task: str, length: Optional[int], budget: str) -> str:
    return " · ".join(x for x in (f"{task}", f"T={length}" if length is not None else "", budget, what) if x)


def budget_label(config: Mapping[str, Any], results: Any = None) -> str:
    """The parameter budget for titles: ``50,000 params budget`` or ``hidden 64 (4,417–17,473 params)``,
    read from the rows when given (a suite's parts may size models differently), else from the
    run's first configuration."""
    import pandas as pd

    if results is not None and not results.empty:
        budgets = pd.to_numeric(results.get("params_budget", pd.Series(dtype=float)), errors="coerce")
        if len(budgets) == len(results) and budgets.notna().all() and budgets.nunique() == 1:
            return f"{int(budgets.iloc[0]):,} params budget"
        hidden = sorted({int(h) for h in pd.to_numeric(results.get("hidden", pd.Series(dtype=float)),
                                                         errors="coerce").dropna()})
        counts = pd.to_numeric(results.get("params", pd.Series(dtype=float)), errors="coerce").dropna()
        span = "" if counts.empty else (f"{int(counts.min()):,} params" if counts.min() == counts.max()
                                        else f"{int(counts.min()):,}–{int(counts.max()):,} params")
        widths = "" if not hidden else f"hidden {hidden[0]}" + (f"–{hidden[-1]}" if len(hidden) > 1 else "")
        return f"{widths} ({span})" if widths and span else widths or span
    first = (config.get("configs") or [config.get("config") or {}])[0]
    if first.get("params"):
        return f"{int(first['params']):,} params budget"
    return f"hidden {first['hidden']}" if first.get("hidden") else ""


def _task_budget(rows: Any, task: str, fallback: str) -> str:
    """The budget label of one task's rows (``fallback``, the run's, when they say nothing)."""
    return budget_label({}, rows[rows["task"] == task]) or fallback


def _build(out: Figures, name: str, make: Any) -> None:
    """``out[name] = make(left_out)``; a figure with nothing to draw (UsageError) is a note."""
    try:
        out[name] = make(out.notes)
    except UsageError as exc:
        out.notes.append(f"{name} ({exc})")


def figures(run_dir: Any, kind: str = "all") -> Figures:
    """Every figure of ``kind`` (``curves``, ``length``, ``speed``, ``pareto``, ``horizon``,
    ``generalization`` or ``all``) for a run directory, by file stem; ``notes``: what they left
    out (seeds that diverged, NaN values, a figure with nothing to draw). UsageError when an
    explicit kind does not apply to the run, or when it applies but leaves everything out."""
    from seqbench.runs.info import load_run_info

    require_matplotlib()
    if kind != "all" and kind not in KINDS:
        raise UsageError(f"unknown plot kind '{kind}'; use one of {', '.join(KINDS)} or all")
    run = load_run_info(run_dir)
    if run.results is None or run.results.empty:
        raise UsageError(f"{run_dir} has no finished trials yet")
    out = run_figures(run, kind)
    if not out and out.notes and kind != "all":
        raise UsageError(f"no {kind} figure: {left_out_line(out.notes)}")
    return out


def run_figures(run: Any, kind: str = "all") -> Figures:
    """The figures of ``kind`` that apply to a loaded run (``runs.info.RunInfo``), chosen by the
    kind the run is (``RunInfo.kind``): a speed run's throughput; a horizon search's solved
    fraction and lengths; a run's generalization, curves, metric against length and Pareto front."""
    if run.kind == "speed":
        if kind not in ("all", "speed"):
            raise UsageError(f"{run.run_dir} is a seqbench speed run: its plot kind is speed")
        return _speed_figures(run)
    if kind == "speed":
        raise UsageError(f"{run.run_dir} is not a seqbench speed run; speed plots need one (seqbench speed)")
    if kind == "horizon" and run.kind != "horizon":
        raise UsageError(f"{run.run_dir} is not a horizon search (seqbench horizon)")
    if kind == "mad" and run.kind != "mad":
        raise UsageError(f"{run.run_dir} is not a MAD run (seqbench run --suite mad)")
    if run.kind == "mad" and kind == "all":  # a figure per setting would bury the one that matters
        return _run_figures(run, ("mad",), explicit=False)
    if kind != "all":
        return _run_figures(run, (kind,), explicit=True)
    if run.kind == "horizon":  # a figure per probed length would bury the one that matters
        return _run_figures(run, ("horizon", "length"), explicit=False)
    return _run_figures(run, ("generalization", "state", "curves", "length", "pareto"), explicit=False)


ORDER = ("horizon", "mad", "generalization", "state", "curves", "length", "pareto")  # the order of a run's figures


def _speed_figures(run: Any) -> Figures:
    """A ``seqbench speed`` run: throughput against length."""
    hidden = ", ".join(sorted({str(h) for h in run.results["hidden"].dropna().astype(int)}))
    out = Figures()
    _build(out, "speed", lambda notes: speed_scaling(run.results, run.scaling, colors=palette(run.results["cell"]),
                                                     budget=f"hidden {hidden}", left_out=notes))
    return out


def _run_figures(run: Any, wanted: tuple[str, ...], explicit: bool) -> Figures:
    """A ``seqbench run`` or ``horizon`` run's figures of the ``wanted`` kinds, in ``ORDER``."""
    rows = run.rows()
    colors = palette([*run.cells, *rows["cell"]])  # the configured order: a cell keeps its colour across runs
    budget = budget_label(run.config, rows)
    out = Figures()
    for name in ORDER:
        if name in wanted:
            BUILDERS[name](out, run, rows, colors, budget, explicit)
    return out


def _horizon_figures(out: Figures, run: Any, rows: Any, colors: Mapping[str, str], budget: str,
                     explicit: bool) -> None:
    from seqbench.sweep.horizon import HorizonRequest, summary

    request = HorizonRequest.saved(run.config["horizon"])
    found = summary(rows, request)
    horizons = {r["cell"]: (None if r["horizon"] is None or r["horizon"] != r["horizon"] else int(r["horizon"]))
                for _, r in found.iterrows()}
    bounds = {r["cell"]: r["bound"] for _, r in found.iterrows() if r.get("bound") == "≥"}
    _build(out, f"horizon-{request.task}", lambda notes: solved_vs_length(
        rows, horizons, request.task, request.seeds, colors=colors, budget=_horizon_budget(run.config, budget),
        bounds=bounds))


def _generalization_figures(out: Figures, run: Any, rows: Any, colors: Mapping[str, str], budget: str,
                            explicit: bool) -> None:
    from seqbench.studies.generalization import load

    frame = load(run.run_dir)
    if frame.empty and explicit:
        raise UsageError(f"{run.run_dir} has no generalization.csv (seqbench run --eval-lengths 2x,4x makes one)")
    for task, length in (dict.fromkeys(zip(frame["task"], frame["length"].astype(int))) if not frame.empty else ()):
        metric, higher = primary_metric(run.tasks, task, length)
        _build(out, f"generalization-{task}-T{length}", lambda notes: generalization(
            frame, task, length, metric, higher, colors=colors, budget=budget, left_out=notes))


def _curve_figures(out: Figures, run: Any, rows: Any, colors: Mapping[str, str], budget: str,
                   explicit: bool) -> None:
    from seqbench.train.curves import load_curves

    curves = load_curves(run.run_dir)
    if not curves.empty and "trial" in curves:
        curves = curves[curves["trial"].isin(set(rows["trial"]))]
    if curves.empty and explicit:
        raise UsageError(f"{run.run_dir} has no curves.csv (a run made before seqbench wrote one)")
    configs = ({t: c if isinstance(c, str) else "" for t, c in zip(rows["trial"], rows["config_label"])}
               if "config_label" in rows else None)
    for task, length in _pairs(rows):
        info = run.tasks.get(f"{task}|{length}", {})
        at = curves[(curves["task"] == task) & (curves["length"] == length)] if not curves.empty else curves
        if not at.empty:  # no curve at all: a run made before curves.csv
            _build(out, f"curves-{task}-T{length}", lambda notes: learning_curves(
                curves, task, length, baseline=info.get("baseline"), optimum=info.get("optimum"),
                colors=colors, budget=_task_budget(rows, task, budget), left_out=notes, configs=configs))


def _length_figures(out: Figures, run: Any, rows: Any, colors: Mapping[str, str], budget: str,
                    explicit: bool) -> None:
    several = [t for t in dict.fromkeys(rows["task"]) if rows[rows["task"] == t]["length"].nunique() > 1]
    if not several and explicit:
        raise UsageError(f"{run.run_dir} ran every task at one length; a plot against length needs two or more")
    for task in several:
        lengths = sorted({int(x) for x in rows[rows["task"] == task]["length"]})
        metric, higher = primary_metric(run.tasks, task, lengths[0])
        base = {T: run.tasks.get(f"{task}|{T}", {}).get("baseline") for T in lengths}
        base = {T: v for T, v in base.items() if v is not None} if metric == "loss" else None
        _build(out, f"length-{task}", lambda notes: metric_vs_length(
            rows, task, metric, higher, colors=colors, budget=_task_budget(rows, task, budget), baseline=base,
            left_out=notes))


def _pareto_figures(out: Figures, run: Any, rows: Any, colors: Mapping[str, str], budget: str,
                    explicit: bool) -> None:
    for task, length in _pairs(rows):
        metric, higher = primary_metric(run.tasks, task, length)
        _build(out, f"pareto-{task}-T{length}", lambda notes: pareto(
            rows, task, length, metric, higher, colors=colors, budget=_task_budget(rows, task, budget),
            left_out=notes))


def _mad_figures(out: Figures, run: Any, rows: Any, colors: Mapping[str, str], budget: str,
                 explicit: bool) -> None:
    from seqbench.reporting.mad_plots import mad_heatmap
    from seqbench.studies.mad import mad_study

    result = mad_study(rows, run.tasks)
    _build(out, "mad", lambda notes: mad_heatmap(result.tasks, result.cells, result.metric, budget=budget,
                                                 left_out=notes))


def _state_figures(out: Figures, run: Any, rows: Any, colors: Mapping[str, str], budget: str,
                   explicit: bool) -> None:
    swept = [(task, length) for task, length in _pairs(rows) if has_state_sweep(rows, task, length)]
    if not swept and explicit:
        raise UsageError(f"{run.run_dir} runs every cell at one state size; sweep hidden or --state-size")
    for task, length in swept:
        metric, higher = primary_metric(run.tasks, task, length)
        chance = run.tasks.get(f"{task}|{length}", {}).get("chance_accuracy") if metric == "accuracy" else None
        _build(out, f"state-{task}-T{length}", lambda notes: metric_vs_state(
            rows, task, length, metric, higher, colors=colors, budget=_task_budget(rows, task, budget),
            chance=chance, left_out=notes))


def _pairs(rows: Any) -> list[tuple[str, int]]:
    return list(dict.fromkeys(zip(rows["task"], rows["length"].astype(int))))


def _horizon_budget(config: Mapping[str, Any], size: str) -> str:
    first = (config.get("configs") or [{}])[0]
    steps = int(first.get("steps") or 0)
    per_trial = f"{first['budget_s']:g} s" if first.get("budget_s") else f"{steps:,} step{'s' * (steps != 1)}"
    return f"{size}, {per_trial} of training per trial"


BUILDERS = {"horizon": _horizon_figures, "generalization": _generalization_figures, "curves": _curve_figures,
            "length": _length_figures, "pareto": _pareto_figures, "mad": _mad_figures, "state": _state_figures}


def save(figures_by_name: Mapping[str, Any], out_dir: Any, fmt: str = "png") -> list[str]:
    """Write each figure to ``out_dir/<name>.<fmt>``; the paths written."""
    from pathlib import Path

    if fmt not in FORMATS:
        raise UsageError(f"unknown figure format '{fmt}'; use one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out}: {exc.strerror}") from None
    paths = []
    for name, fig in figures_by_name.items():
        path = out / f"{name}.{fmt}"
        fig.savefig(path, format=fmt, dpi=120)
        paths.append(str(path))
    return paths
