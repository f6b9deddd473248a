"""The figures of each kind of run, by file stem, drawn with ``seqbench.reporting.plots``.
``RunReport.figures`` chooses which apply to its run's kind; these only draw them. With
``explicit`` (the user asked for that figure kind), a figure that cannot be drawn is a UsageError."""
from __future__ import annotations

from typing import Any, Mapping

from seqbench.errors import UsageError
from seqbench.reporting import plots
from seqbench.tasks.base import primary_metric

ORDER = ("horizon", "generalization", "curves", "length", "pareto")  # the order of a run's figures


def speed_figures(run: Any) -> dict[str, Any]:
    """A ``seqbench speed`` run: throughput against length."""
    hidden = ", ".join(sorted({str(h) for h in run.results["hidden"].dropna().astype(int)}))
    return {"speed": plots.speed_scaling(run.results, run.scaling, colors=plots.palette(run.results["cell"]),
                                         budget=f"hidden {hidden}")}


def run_figures(run: Any, wanted: tuple[str, ...], explicit: bool) -> dict[str, Any]:
    """A ``seqbench run`` or ``horizon`` run's figures of the ``wanted`` kinds, in ``ORDER``."""
    rows = run.rows()
    colors = plots.palette([*run.cells, *rows["cell"]])  # the configured order: a cell keeps its colour across runs
    budget = plots.budget_label(run.config, rows)
    out: dict[str, Any] = {}
    for name in ORDER:
        if name in wanted:
            out.update(BUILDERS[name](run, rows, colors, budget, explicit))
    return out


def horizon_figures(run: Any, rows: Any, colors: Mapping[str, str], budget: str, explicit: bool) -> dict[str, Any]:
    from seqbench.sweep.horizon import HorizonRequest, summary

    request = HorizonRequest.saved(run.config["horizon"])
    found = summary(rows, request)
    horizons = {r["cell"]: (None if r["horizon"] is None or r["horizon"] != r["horizon"] else int(r["horizon"]))
                for _, r in found.iterrows()}
    return {f"horizon-{request.task}": plots.solved_vs_length(rows, horizons, request.task, request.seeds,
                                                              colors=colors, budget=_horizon_budget(run.config, budget))}


def generalization_figures(run: Any, rows: Any, colors: Mapping[str, str], budget: str,
                           explicit: bool) -> dict[str, Any]:
    from seqbench.studies.generalization import load

    frame = load(run.run_dir)
    if frame.empty and explicit:
        raise UsageError(f"{run.run_dir} has no generalization.csv (seqbench run --eval-lengths 2x,4x makes one)")
    out = {}
    for task, length in (dict.fromkeys(zip(frame["task"], frame["length"].astype(int))) if not frame.empty else ()):
        metric, higher = primary_metric(run.tasks, task, length)
        out[f"generalization-{task}-T{length}"] = plots.generalization(frame, task, length, metric, higher,
                                                                       colors=colors, budget=budget)
    return out


def curve_figures(run: Any, rows: Any, colors: Mapping[str, str], budget: str, explicit: bool) -> dict[str, Any]:
    from seqbench.train.curves import load_curves

    curves = load_curves(run.run_dir)
    if not curves.empty and "trial" in curves:
        curves = curves[curves["trial"].isin(set(rows["trial"]))]
    if curves.empty and explicit:
        raise UsageError(f"{run.run_dir} has no curves.csv (a run made before seqbench wrote one)")
    out = {}
    for task, length in _pairs(rows):
        info = run.tasks.get(f"{task}|{length}", {})
        at = curves[(curves["task"] == task) & (curves["length"] == length)] if not curves.empty else curves
        if not at.empty and at["val_loss"].notna().any():
            out[f"curves-{task}-T{length}"] = plots.learning_curves(
                curves, task, length, baseline=info.get("baseline"), optimum=info.get("optimum"),
                colors=colors, budget=budget)
    return out


def length_figures(run: Any, rows: Any, colors: Mapping[str, str], budget: str, explicit: bool) -> dict[str, Any]:
    several = [t for t in dict.fromkeys(rows["task"]) if rows[rows["task"] == t]["length"].nunique() > 1]
    if not several and explicit:
        raise UsageError(f"{run.run_dir} ran every task at one length; a plot against length needs two or more")
    out = {}
    for task in several:
        lengths = sorted({int(x) for x in rows[rows["task"] == task]["length"]})
        metric, higher = primary_metric(run.tasks, task, lengths[0])
        base = {T: run.tasks.get(f"{task}|{T}", {}).get("baseline") for T in lengths}
        base = {T: v for T, v in base.items() if v is not None} if metric == "loss" else None
        out[f"length-{task}"] = plots.metric_vs_length(rows, task, metric, higher, colors=colors, budget=budget,
                                                       baseline=base)
    return out


def pareto_figures(run: Any, rows: Any, colors: Mapping[str, str], budget: str, explicit: bool) -> dict[str, Any]:
    out = {}
    for task, length in _pairs(rows):
        metric, higher = primary_metric(run.tasks, task, length)
        out[f"pareto-{task}-T{length}"] = plots.pareto(rows, task, length, metric, higher, colors=colors,
                                                       budget=budget)
    return out


def _pairs(rows: Any) -> list[tuple[str, int]]:
    return list(dict.fromkeys(zip(rows["task"], rows["length"].astype(int))))


def _horizon_budget(config: Mapping[str, Any], size: str) -> str:
    first = (config.get("configs") or [{}])[0]
    steps = int(first.get("steps") or 0)
    per_trial = f"{first['budget_s']:g} s" if first.get("budget_s") else f"{steps:,} step{'s' * (steps != 1)}"
    return f"{size}, {per_trial} of training per trial"


BUILDERS = {"horizon": horizon_figures, "generalization": generalization_figures, "curves": curve_figures,
            "length": length_figures, "pareto": pareto_figures}
