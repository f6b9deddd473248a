"""The table of ``seqbench run --dry-run``: the plan, before any training."""
from __future__ import annotations

from typing import Any

from seqbench.reporting.formats import compact, missing
from seqbench.reporting.table import TableData


def plan_table(planned: Any) -> TableData:
    """Per task × length × cell (and backbone, where a run has both) of the planned trials
    (``runs.runner.run(dry_run=True)``): its configurations, trials, the budget its width was
    solved for (parameters or state size), hidden sizes and estimated time."""
    from seqbench.runs.estimate import describe, duration

    backbones = "backbone" in planned and set(planned["backbone"]) != {"plain"}
    budgets = any(name in planned and planned[name].notna().any() for name in ("params_budget", "state_budget"))
    table = TableData("seqbench run --dry-run: the plan", describe(planned) + "; every configuration validated",
                      ["task", "T", "cell", *(["backbone"] if backbones else []), "configurations", "trials",
                       *(["budget"] if budgets else []), "hidden", "est. time"])
    if planned.empty:
        return table
    keys = ["task", "length", "cell", *(["backbone"] if backbones else [])]
    for key, group in planned.groupby(keys, sort=False):
        widths = sorted(set(group["hidden"]))
        shown = str(widths[0]) if len(widths) == 1 else f"{widths[0]}–{widths[-1]}"
        budget = [_budget(group)] if budgets else []
        table.add([key[0], str(key[1]), *key[2:], str(group["config_label"].nunique()), str(len(group)), *budget,
                   shown, duration(float(group["est_s"].sum()))])
    return table


def _budget(group: Any) -> str:
    """``20k params`` or ``4.1k state`` (the budgets of a group's trials, joined when several)."""
    shown = []
    for column, what in (("params_budget", "params"), ("state_budget", "state")):
        values = [v for v in dict.fromkeys(group[column]) if not missing(v)] if column in group else []
        shown += [f"{compact(v)} {what}" for v in values]
    return ", ".join(shown) or "–"
