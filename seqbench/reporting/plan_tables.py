"""The table of ``seqbench run --dry-run``: the plan, before any training."""
from __future__ import annotations

from typing import Any

from seqbench.reporting.table import TableData


def plan_table(planned: Any) -> TableData:
    """Per task × length × cell of the planned trials (``runs.runner.run(dry_run=True)``): its
    configurations, trials, hidden sizes and estimated time."""
    from seqbench.runs.estimate import describe, duration

    table = TableData("seqbench run --dry-run: the plan", describe(planned) + "; every configuration validated",
                      ["task", "T", "cell", "configurations", "trials", "hidden", "est. time"])
    if planned.empty:
        return table
    for (task, length, cell), group in planned.groupby(["task", "length", "cell"], sort=False):
        widths = sorted(set(group["hidden"]))
        shown = str(widths[0]) if len(widths) == 1 else f"{widths[0]}–{widths[-1]}"
        table.add([task, str(length), cell, str(group["config_label"].nunique()), str(len(group)), shown,
                   duration(float(group["est_s"].sum()))])
    return table
