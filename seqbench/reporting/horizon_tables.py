"""The tables of a horizon search (``seqbench horizon``, ``seqbench report`` of its run): the
horizon per cell, then every probed length with its outcome, in the order probed."""
from __future__ import annotations

import math
from typing import Any, Mapping

from seqbench.sweep.horizon import HorizonRequest, summary
from seqbench.reporting.formats import number, text
from seqbench.reporting.table import TableData, best_of


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
    caption = (f"horizon: the longest T a majority of the {request.seeds} seeds solve ({criterion} on the test set) "
               f"{budget}; lengths doubled from {request.start:,} up to {request.max_length:,}, then bisected until "
               f"the first failed T is within {request.resolution:.0%} of it (halved instead when T={request.start:,} "
               f"fails); seeds run in order until the "
               f"majority is decided" + ("; a trial stops once solved" if first.get("stop_when_solved") else "")
               + "; trials and train s: totals over the lengths tried (training seconds, evaluation excluded)"
               + ("; …: not decided yet (the search is running or was interrupted: seqbench horizon --resume)"
                  if not result["done"].all() else ""))
    head = TableData(f"{request.task} · memory horizon", caption,
                     ["cell", "params", "horizon T ↑", "first failed T", "lengths tried", "trials", "train s"])
    bests = best_of(pd.to_numeric(result["horizon"], errors="coerce"), True)
    for _, rec in result.iterrows():
        failed = rec["failed_at"]
        horizon = pd.to_numeric(pd.Series([rec["horizon"]]), errors="coerce").iloc[0]
        head.add([rec["cell"], number("params", rec["params"]), horizon_text(rec, request),
                  "–" if failed is None or pd.isna(failed) else f"{int(failed):,}", str(len(rec["probes"])),
                  str(rec["trials"]), text(rec["train_s"], ",.0f")],
                 [False, False, bests is not None and not pd.isna(horizon) and horizon == bests] + [False] * 4)
    metric = info.get("metric", "loss")
    probes = TableData(f"{request.task} · lengths tried", "per cell in the order probed: ✓ solved / ✗ failed by a "
                       "majority of seeds (solved seeds of those run; … undecided); "
                       f"{metric}: mean over the seeds run, on the test set; steps: mean training steps (a solved "
                       "trial stops early)",
                       ["cell", "#", "T", "outcome", "solved seeds", f"{metric}", "steps", "train s"])
    for _, rec in result.iterrows():
        for order, (length, outcome, solved, ran) in enumerate(rec["probes"], 1):
            rows = frame[(frame["cell"] == rec["cell"]) & (frame["length"].astype(int) == length)]
            values = pd.to_numeric(rows.get(metric), errors="coerce").dropna()
            mark = {True: "✓ solved", False: "✗ failed", None: "…"}[outcome]
            probes.add([rec["cell"], str(order), f"{length:,}", mark, f"{solved}/{ran}",
                        text(values.mean() if len(values) else None),
                        f"{pd.to_numeric(rows['steps'], errors='coerce').mean():,.0f}" if len(rows) else "–",
                        f"{pd.to_numeric(rows['train_s'], errors='coerce').sum():,.1f}" if len(rows) else "–"])
    return [head, probes]


def _budget(config: Mapping[str, Any]) -> str:
    parts = []
    if config.get("budget_s"):
        parts.append(f"{config['budget_s']:g} s")
    if config.get("steps"):
        parts.append(f"{int(config['steps']):,} step" + ("s" if int(config["steps"]) != 1 else ""))
    size = f"{int(config['params']):,} parameters" if config.get("params") else f"hidden {config.get('hidden')}"
    return "within " + " / ".join(parts) + f" of training per trial, {size}" if parts else size
