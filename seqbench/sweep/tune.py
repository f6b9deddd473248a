"""Tuning in two phases, so that the reported numbers cannot flatter (Melis et al. 2018).

``search``: every configuration trains on the search seeds 0 … n−1; per cell × task × length the
configuration whose seeds have the best mean validation value of the task's primary metric is
selected (``select``). Selection reads the ``val_<metric>`` columns of search rows only, never a
test column and never a final row. A configuration with a seed that diverged or failed ranks
after every configuration whose seeds all finished ``ok``; ties go to the one first in the sweep.

``final``: the selected configuration is trained again on fresh seeds after the search's (as many as
the search had, at least 3 so that the reported numbers have an interval), which selection
never saw (``final_specs``); the tuned tables report those rows on test. ``results.csv`` marks each
row's ``phase`` (``search`` or ``final``).

A selected value at the edge of the values tried for it (the lowest or highest learning rate of
the grid, say) means the search has not converged: ``edges`` names it with the range to try next.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from seqbench.stats import MIN_SEEDS
from seqbench.tasks.base import primary_metric

KEYS = ["task", "length", "cell"]
SEARCH, FINAL = "search", "final"
# swept run options checked for an edge: (column, values multiply (log scale), lowest sensible value)
EDGE_OPTIONS = {"lr": (True, None), "clip": (True, None), "hidden": (True, 1), "params_budget": (True, None),
                "batch": (True, 1), "layers": (False, 1), "dropout": (False, 0.0)}


def phases(frame: Any) -> Any:
    """Each row's phase: its ``phase`` column, ``search`` where a run made before the column has none."""
    import pandas as pd

    if "phase" not in frame:
        return pd.Series(SEARCH, index=frame.index)
    return frame["phase"].astype(object).where(frame["phase"].notna(), SEARCH).astype(str)


def select(frame: Any, task_info: Optional[Mapping[str, Any]] = None) -> Any:
    """``frame`` with a boolean ``selected`` column (the search rows of each group's chosen
    configuration), ``n_configs`` (how many configurations that cell × task × length had
    in the search) and ``edge`` (the chosen configuration's options at the edge of their values
    tried, e.g. ``"lr ↑"``; "" when none)."""
    import pandas as pd

    task_info = task_info or {}
    frame = frame.copy()
    if frame.empty:
        return frame.assign(selected=pd.Series(dtype=bool), n_configs=pd.Series(dtype=int),
                            edge=pd.Series(dtype=str))
    if "config" not in frame:
        frame["config"] = ""
    config = frame["config"].fillna("").astype(str)
    search = phases(frame) == SEARCH
    selected = pd.Series(False, index=frame.index)
    n_configs = pd.Series(1, index=frame.index)
    edge = pd.Series("", index=frame.index)
    for (task, length, _), group in frame.groupby(KEYS, sort=False):
        metric, higher = primary_metric(task_info, task, length)
        candidates = group[search[group.index]]
        if candidates.empty:
            continue
        column = f"val_{metric}" if f"val_{metric}" in candidates else None
        scores = []
        for order, (name, rows) in enumerate(candidates.groupby(config[candidates.index], sort=False)):
            ok = rows["status"].astype(str) == "ok"
            values = pd.to_numeric(rows.loc[ok, column], errors="coerce").dropna() if column else pd.Series([], dtype=float)
            mean = values.mean() if len(values) else math.nan
            worst = -math.inf if higher else math.inf
            value = mean if math.isfinite(mean) else worst
            scores.append(((not ok.all()) or not math.isfinite(mean), -value if higher else value, order, name))
        best = min(scores)[3]
        selected[candidates.index] = config[candidates.index] == best
        n_configs[group.index] = len(scores)
        marks = " ".join(f"{e.option} {'↑' if e.high else '↓'}" for e in _edges_of(candidates, config, best))
        edge[group.index] = marks
    frame["selected"] = selected.astype(bool)
    frame["n_configs"] = n_configs.astype(int)
    frame["edge"] = edge.astype(str)
    return frame


def tuned(frame: Any, task_info: Optional[Mapping[str, Any]] = None) -> Any:
    """The rows reported for a tuned run: each selected configuration's ``final`` rows (fresh
    seeds), with ``n_configs`` and ``edge``. A run made before the final phase existed (no
    ``phase`` column) reports its selected search rows."""
    import pandas as pd

    chosen = select(frame, task_info)
    final = phases(chosen) == FINAL
    parts = []
    for _, group in chosen.groupby(KEYS, sort=False):
        picked = group[group["selected"]]
        fresh = group[final[group.index] & group["config"].isin(picked["config"])]
        parts.append(fresh if len(fresh) else picked)  # a run without a final phase: its search rows
    if not parts:
        return chosen[chosen["selected"]].reset_index(drop=True)
    return pd.concat(parts).reset_index(drop=True)


# --------------------------------------------------------------------------- the final phase


def final_seeds(search_seeds: Iterable[int]) -> range:
    """The fresh seeds of the final phase: as many as the search's (at least ``MIN_SEEDS``, so the
    reported numbers get an interval), all above the highest search seed."""
    seeds = list(search_seeds)
    return range(max(seeds) + 1, max(seeds) + 1 + max(len(seeds), MIN_SEEDS))


def final_specs(frame: Any, trials: Iterable[Any], task_info: Optional[Mapping[str, Any]] = None) -> list:
    """The final phase's trial specs: per cell × task × length, the selected configuration's
    search spec copied onto each fresh seed (``final_seeds`` of the search's seeds)."""
    import dataclasses

    chosen = select(frame[phases(frame) == SEARCH], task_info)
    chosen = chosen[chosen["selected"]]
    picked = {(r["cell"], r["task"], int(r["length"]), str(r["config"])) for _, r in chosen.iterrows()}
    by_config: dict[tuple, list] = {}
    for spec in trials:
        by_config.setdefault((spec.cell, spec.task, int(spec.length), str(spec.config)), []).append(spec)
    out = []
    for key, specs in by_config.items():
        if key in picked:
            first = min(specs, key=lambda s: s.seed)
            out += [dataclasses.replace(first, seed=seed) for seed in final_seeds(s.seed for s in specs)]
    return out


# --------------------------------------------------------------------------- edges of the search space


@dataclass(frozen=True)
class Edge:
    """A selected value at the edge of the values tried: ``high`` (the highest) or the lowest,
    and the range to try next (``low``..``high_next``)."""

    option: str
    value: float
    high: bool
    next_low: float
    next_high: float

    def advice(self) -> str:
        return f"{self.option}={_short(self.value)} is the {'highest' if self.high else 'lowest'} value tried: " \
               f"try {_short(self.next_low)}..{_short(self.next_high)}"


def _edges_of(rows: Any, config: Any, best: str) -> list[Edge]:
    """The options of configuration ``best`` that sit at the edge of the values ``rows`` tried."""
    import pandas as pd

    out = []
    for option, (log, floor) in EDGE_OPTIONS.items():
        if option not in rows or (option == "hidden" and "params_budget" in rows
                                  and rows["params_budget"].notna().any()):  # the width follows the budget
            continue
        values = pd.to_numeric(rows[option], errors="coerce")
        tried = sorted(set(values.dropna()))
        chosen = values[config[rows.index] == best].dropna()
        if len(tried) < 2 or chosen.empty:
            continue
        value, low, high = float(chosen.iloc[0]), float(tried[0]), float(tried[-1])
        if value == high:  # next: two of the grid's outermost steps beyond the edge
            step = float(tried[-2])
            nxt = (high, high * (high / step) ** 2) if log else (high, high + 2 * (high - step))
            out.append(Edge(option, value, True, *nxt))
        elif value == low and (floor is None or low > floor):
            step = float(tried[1])
            nxt = (low * (low / step) ** 2, low) if log else (max(low - 2 * (step - low), floor or 0.0), low)
            out.append(Edge(option, value, False, *nxt))
    return out


def edges(frame: Any, task_info: Optional[Mapping[str, Any]] = None) -> list[tuple[str, Edge]]:
    """Every selected value on the edge of its values tried, as (``cell task T=…``, Edge)."""
    chosen = select(frame[phases(frame) == SEARCH], task_info)
    config = chosen["config"].fillna("").astype(str)
    out = []
    for (task, length, cell), group in chosen.groupby(KEYS, sort=False):
        best = group.loc[group["selected"], "config"]
        if best.empty:
            continue
        for edge in _edges_of(group, config, str(best.iloc[0])):
            out.append((f"{cell} {task} T={int(length)}", edge))
    return out


def warn_edges(frame: Any, task_info: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """One warning line on stderr when selected values sit on the edge of their grid or range
    (returned too; None when there is none)."""
    found = edges(frame, task_info)
    if not found:
        return None
    from seqbench.errors import warn

    groups = len({where for where, _ in found})
    line = (f"tuning has not converged: in {groups} cell × task × length the selected value is on the edge of the "
            f"values tried ({'; '.join(f'{where}: {e.advice()}' for where, e in found)})")
    warn(line)
    return line


def _short(value: float) -> str:
    return f"{value:.3g}"
