"""The tables of a horizon search (``seqbench horizon``, ``seqbench report`` of its run): the
horizon per cell, then every probed length with its outcome, in the order probed."""
from __future__ import annotations

import math
from typing import Any, Mapping

from seqbench.sweep.horizon import HorizonRequest, summary
from seqbench.reporting.formats import number, text
from seqbench.reporting.table import TableData, best_of
from seqbench.runs.info import solved_flags


def horizon_text(rec: Mapping[str, Any], request: HorizonRequest) -> str:
    """``130``, ``≥ 4,096`` (the longest length solved), ``< 3`` (even the shortest length probed
    failed), ``…``."""
    if rec["bound"] == "<":
        return f"< {int(rec['failed_at']):,}"
    if rec["horizon"] is None or (isinstance(rec["horizon"], float) and math.isnan(rec["horizon"])):
        return "…"
    text = f"{int(rec['horizon']):,}"
    return f"≥ {text}" if rec["bound"] == "≥" else text


def tables(results: Any, config: Mapping[str, Any]) -> list[TableData]:
    """The horizon table and the probes table of a horizon run's rows."""
    import pandas as pd

    request = HorizonRequest.saved(config["horizon"])
    first = (config.get("configs") or [{}])[0]
    frame = results
    result = summary(frame, request)
    info = next(iter((config.get("tasks") or {}).values()), {})
    criterion = info.get("solved", "the task's criterion")
    budget = _budget(first)
    caption = (f"horizon: the longest T a majority of the {request.seeds} seeds solve ({criterion} on the validation "
               f"set: the search decides on validation) {budget}; lengths doubled from {request.start:,} up to "
               f"{request.max_length:,} until two in a row fail, then bisected until "
               f"the failed T is within {request.resolution:.0%} of it (halved instead when T={request.start:,} "
               f"fails); seeds run in order until the "
               f"majority is decided" + ("; a trial stops once solved" if first.get("stop_when_solved") else "")
               + "; T50 [95 % CI]: T at 50 % solved from a logistic fit of solved against ln T over every trial, "
                 "with a seeded bootstrap interval (trials resampled): the search's honest accuracy, about ±20 % with "
                 "3 seeds against a simulated oracle (the bisection's resolution is finer than the data)"
               + ("; ⚠ non-monotone: a length solved above a failed one (shown, and the search went on from it)"
                  if any(result["inversions"].map(bool)) else "")
               + "; trials and train s: totals over the lengths tried (training seconds, evaluation excluded)"
               + ("; …: not decided yet (the search is running or was interrupted: seqbench horizon --resume)"
                  if not result["done"].all() else ""))
    head = TableData(f"{request.task} · memory horizon", caption,
                     ["cell", "params", "horizon T ↑", "failed T", "T50 [95% CI]", "lengths tried", "trials",
                      "train s"])
    bests = best_of(pd.to_numeric(result["horizon"], errors="coerce"), True)
    for _, rec in result.iterrows():
        failed = rec["failed_at"]
        horizon = pd.to_numeric(pd.Series([rec["horizon"]]), errors="coerce").iloc[0]
        head.add([rec["cell"], number("params", rec["params"]), horizon_text(rec, request),
                  "–" if failed is None or pd.isna(failed) else f"{int(failed):,}", t50_text(rec),
                  str(len(rec["probes"])), str(rec["trials"]), text(rec["train_s"], ",.0f")],
                 [False, False, bests is not None and not pd.isna(horizon) and horizon == bests] + [False] * 5)
    metric = info.get("metric", "loss")
    probes = TableData(f"{request.task} · lengths tried", "per cell in the order probed: ✓ solved / ✗ failed by a "
                       "majority of seeds on validation (solved seeds of those run; … undecided; ⚠ solved above a "
                       "failed length); test solved and "
                       f"{metric}: on the test set ({metric}: mean over the seeds run); steps: mean training steps "
                       "(a solved trial stops early)",
                       ["cell", "#", "T", "outcome", "solved seeds", "test solved", f"{metric}", "steps", "train s"])
    for _, rec in result.iterrows():
        for order, (length, outcome, solved, ran) in enumerate(rec["probes"], 1):
            rows = frame[(frame["cell"] == rec["cell"]) & (frame["length"].astype(int) == length)]
            values = pd.to_numeric(rows.get(metric), errors="coerce").dropna()
            mark = {True: "✓ solved", False: "✗ failed", None: "…"}[outcome]
            if any(s == length for _, s in rec["inversions"]):
                mark += " ⚠"
            tested = solved_flags(rows["solved"]).sum() if len(rows) else 0
            probes.add([rec["cell"], str(order), f"{length:,}", mark, f"{solved}/{ran}", f"{tested}/{len(rows)}",
                        text(values.mean() if len(values) else None),
                        f"{pd.to_numeric(rows['steps'], errors='coerce').mean():,.0f}" if len(rows) else "–",
                        f"{pd.to_numeric(rows['train_s'], errors='coerce').sum():,.1f}" if len(rows) else "–"])
    return [head, probes]


def t50_text(rec: Mapping[str, Any]) -> str:
    """``98 [81, 121]``; ``–`` where the fit has no 50 % point; an open end ``…`` where the
    bootstrap could not close it."""
    def fmt(value: Any) -> str:
        return "…" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.0f}"

    if rec.get("t50") is None or (isinstance(rec["t50"], float) and math.isnan(rec["t50"])):
        return "–"
    return f"{fmt(rec['t50'])} [{fmt(rec.get('t50_low'))}, {fmt(rec.get('t50_high'))}]"


def _budget(config: Mapping[str, Any]) -> str:
    parts = []
    if config.get("budget_s"):
        parts.append(f"{config['budget_s']:g} s of wall clock (machine-dependent)")
    if config.get("steps"):
        parts.append(f"{int(config['steps']):,} step" + ("s" if int(config["steps"]) != 1 else ""))
    size = f"{int(config['params']):,} parameters" if config.get("params") else f"hidden {config.get('hidden')}"
    return "within " + " / ".join(parts) + f" of training per trial, {size}" if parts else size
