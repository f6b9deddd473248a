"""Selection on the validation split: per cell × task × length, the configuration whose seeds
have the best mean validation value of the task's primary metric.

Selection reads the ``val_<metric>`` columns only, never the test columns, which are what the
tuned tables then report for the selected configuration. A configuration with a seed that
diverged or failed ranks after every configuration whose seeds all finished ``ok``; ties go to
the configuration that came first in the sweep.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional

from seqbench.tasks.base import primary_metric

KEYS = ["task", "length", "cell"]


def select(frame: Any, task_info: Optional[Mapping[str, Any]] = None) -> Any:
    """``frame`` with a boolean ``selected`` column (the rows of each group's chosen configuration)
    and ``n_configs`` (how many configurations that cell × task × length had)."""
    import pandas as pd

    task_info = task_info or {}
    frame = frame.copy()
    if frame.empty:
        return frame.assign(selected=pd.Series(dtype=bool), n_configs=pd.Series(dtype=int))
    if "config" not in frame:
        frame["config"] = ""
    config = frame["config"].fillna("").astype(str)
    selected = pd.Series(False, index=frame.index)
    n_configs = pd.Series(1, index=frame.index)
    for (task, length, _), group in frame.groupby(KEYS, sort=False):
        metric, higher = primary_metric(task_info, task, length)
        column = f"val_{metric}" if f"val_{metric}" in group else None
        scores = []
        for order, (name, rows) in enumerate(group.groupby(config[group.index], sort=False)):
            ok = rows["status"].astype(str) == "ok"
            values = pd.to_numeric(rows.loc[ok, column], errors="coerce").dropna() if column else pd.Series([], dtype=float)
            mean = values.mean() if len(values) else math.nan
            worst = -math.inf if higher else math.inf
            value = mean if math.isfinite(mean) else worst
            scores.append(((not ok.all()) or not math.isfinite(mean), -value if higher else value, order, name))
        best = min(scores)[3]
        selected[group.index] = config[group.index] == best
        n_configs[group.index] = len(scores)
    frame["selected"] = selected.astype(bool)
    frame["n_configs"] = n_configs.astype(int)
    return frame


def tuned(frame: Any, task_info: Optional[Mapping[str, Any]] = None) -> Any:
    """The selected configurations' rows only (with ``n_configs``)."""
    chosen = select(frame, task_info)
    return chosen[chosen["selected"]].reset_index(drop=True)
