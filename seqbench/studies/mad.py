"""The MAD score (Poli et al. 2024, "Mechanistic Design and Scaling of Hybrid Architectures";
``compute_model_mad_scores`` in github.com/athms/mad-lab ``mad/analysis.py``) of a run made with
``--suite mad`` or ``mad-full``.

A task's *difficulty setting* is everything that makes it harder: its length, its options
(vocabulary size, noise share, ...) and the training-set size. A *configuration* within a
setting is what is tuned: the learning rate and the weight decay (and any other swept option
but those). Per cell × task × setting the configuration with the best mean VALIDATION value of
the task's primary metric over its seeds is chosen (seeds that diverged or failed rank it after
every configuration whose seeds all finished ok; ties go to the first), and its mean TEST value
reported (MAD picks on the test accuracy itself; seqbench never selects on test). A cell's score
on a task is the mean of those over the task's settings; its MAD score the mean over tasks.
Settings with no usable configuration are left out of the mean and counted (``missing``).

Everything returns DataFrames; nothing here formats.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from seqbench.tasks.base import primary_metric

SETTING = ["task", "length", "task_opts", "train_examples"]  # a difficulty setting of a task
CHOSEN = ("lr", "weight_decay")  # the options reported of the chosen configuration


@dataclass
class MadResult:
    """``settings``: one row per cell × task × difficulty setting (the chosen configuration);
    ``tasks``: one per cell × task (the mean over settings); ``cells``: one per cell (the MAD score)."""

    settings: Any
    tasks: Any
    cells: Any
    metric: str = "accuracy"
    notes: list[str] = field(default_factory=list)  # what was left out, one phrase each


def mad_study(results: Any, task_info: Optional[Mapping[str, Any]] = None) -> MadResult:
    """The MAD score of every cell in ``results`` (a run's rows; ``task_info``: its tasks'
    descriptions, for each task's primary metric). Never raises on degenerate rows: missing
    columns, NaN values, one configuration or no finished trial give empty or NaN entries."""
    task_info = task_info or {}
    settings = choose_per_setting(results, task_info)
    tasks = task_scores(settings)
    cells = cell_scores(tasks)
    metrics = sorted(set(settings["metric"])) if not settings.empty else []
    notes = [f"{int(n)} setting(s) of {cell} on {task} had no usable configuration"
             for (cell, task), n in tasks.set_index(["cell", "task"])["missing"].items() if n]
    return MadResult(settings, tasks, cells, metrics[0] if len(metrics) == 1 else "accuracy", notes)


def setting_label(length: Any, task_opts: Any, train_examples: Any) -> str:
    """A difficulty setting in words: ``T=32, vocab_size=16, N=1024`` (N: the training-set size,
    ``stream`` when the examples were fresh at every step)."""
    import json

    parts = [f"T={int(length)}"]
    try:
        options = json.loads(task_opts) if isinstance(task_opts, str) and task_opts else {}
    except ValueError:
        options = {}
    parts += [f"{k}={v}" for k, v in sorted(options.items())]
    n = _number(train_examples)
    parts.append(f"N={int(n)}" if math.isfinite(n) and n > 0 else "N=stream")
    return ", ".join(parts)


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


SETTINGS_COLUMNS = ["cell", "task", "setting", "length", "train_examples", "metric", "higher", "configs",
                    "seeds", "chosen", "lr", "weight_decay", "val", "test"]


def choose_per_setting(results: Any, task_info: Mapping[str, Any]) -> Any:
    """One row per cell × task × setting: the configuration chosen on validation (``chosen``: its
    label; ``lr``, ``weight_decay``), how many configurations there were (``configs``), the seeds
    behind its numbers, its mean validation (``val``) and test (``test``) value of the metric."""
    import pandas as pd

    if results is None or len(results) == 0 or not {"cell", "task", "length"} <= set(results.columns):
        return pd.DataFrame(columns=SETTINGS_COLUMNS)
    frame = results.copy()
    for column, default in (("task_opts", ""), ("train_examples", math.nan), ("config", ""),
                            ("config_label", ""), ("status", "ok")):
        if column not in frame:
            frame[column] = default
    frame["task_opts"] = frame["task_opts"].fillna("").astype(str)
    frame["config"] = frame["config"].fillna("").astype(str)
    frame["_n"] = pd.to_numeric(frame["train_examples"], errors="coerce").fillna(0)
    rows = []
    for (cell, task, length, opts, n), group in frame.groupby(["cell", "task", "length", "task_opts", "_n"],
                                                              sort=False):
        metric, higher = primary_metric(task_info, task, length)
        rows.append({"cell": cell, "task": task, "setting": setting_label(length, opts, n), "length": int(length),
                     "train_examples": int(n) if n > 0 else None, "metric": metric, "higher": higher,
                     **_best(group, metric, higher)})
    return pd.DataFrame(rows, columns=SETTINGS_COLUMNS)


def _best(group: Any, metric: str, higher: bool) -> dict[str, Any]:
    """The configuration of ``group`` (one setting's rows) with the best mean validation value."""
    import pandas as pd

    val_column, scores = f"val_{metric}", []
    for order, (config, rows) in enumerate(group.groupby("config", sort=False)):
        ok = rows["status"].astype(str) == "ok"
        val = pd.to_numeric(rows.loc[ok, val_column], errors="coerce") if val_column in rows else pd.Series([], dtype=float)
        mean = val[val.apply(math.isfinite)].mean() if len(val) else math.nan
        usable = math.isfinite(mean) if isinstance(mean, float) else False
        rank_value = (-mean if higher else mean) if usable else math.inf
        scores.append(((not ok.all()) or not usable, rank_value, order, config, rows[ok]))
    configs = len(scores)
    flawed, _, _, _, rows = min(scores, key=lambda s: s[:3])
    test = pd.to_numeric(rows[metric], errors="coerce") if metric in rows else pd.Series([], dtype=float)
    test = test[test.apply(math.isfinite)] if len(test) else test
    val = pd.to_numeric(rows[val_column], errors="coerce") if val_column in rows else pd.Series([], dtype=float)
    first = rows.iloc[0] if len(rows) else None
    return {"configs": configs, "seeds": int(len(test)),
            "chosen": str(first["config_label"]) if first is not None else "",
            **{name: (_number(first[name]) if first is not None and name in rows else math.nan) for name in CHOSEN},
            "val": float(val.mean()) if len(val.dropna()) else math.nan,
            "test": float(test.mean()) if len(test) else math.nan}


TASK_COLUMNS = ["cell", "task", "metric", "score", "settings", "missing"]


def task_scores(settings: Any) -> Any:
    """One row per cell × task: ``score``, the mean test value over the settings that have one;
    ``settings``, how many were averaged; ``missing``, how many had none."""
    import pandas as pd

    if settings.empty:
        return pd.DataFrame(columns=TASK_COLUMNS)
    rows = []
    for (cell, task), group in settings.groupby(["cell", "task"], sort=False):
        values = pd.to_numeric(group["test"], errors="coerce")
        finite = values[values.apply(math.isfinite)]
        rows.append({"cell": cell, "task": task, "metric": group["metric"].iloc[0],
                     "score": float(finite.mean()) if len(finite) else math.nan,
                     "settings": int(len(finite)), "missing": int(len(values) - len(finite))})
    return pd.DataFrame(rows, columns=TASK_COLUMNS)


CELL_COLUMNS = ["cell", "score", "tasks", "of"]


def cell_scores(tasks: Any) -> Any:
    """One row per cell: its MAD ``score``, the mean of its task scores over the ``tasks`` it has
    a score on, ``of`` the tasks in the run (a score over fewer tasks is not comparable)."""
    import pandas as pd

    if tasks.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    every = tasks["task"].nunique()
    rows = []
    for cell, group in tasks.groupby("cell", sort=False):
        values = pd.to_numeric(group["score"], errors="coerce")
        finite = values[values.apply(math.isfinite)]
        rows.append({"cell": cell, "score": float(finite.mean()) if len(finite) else math.nan,
                     "tasks": int(len(finite)), "of": int(every)})
    return pd.DataFrame(rows, columns=CELL_COLUMNS)
