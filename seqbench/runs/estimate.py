"""The size and expected duration of a sweep, shown before it starts.

Every distinct model (cell, task, length, options, width, depth, batch) is built once on the
run's device and timed for a few training steps (at least 2, until 0.1 s, after 2 warm-up steps:
the first steps of a new shape pay one-off kernel set-up, up to a second on CPU); a trial's estimate is its
steps (or its wall-clock budget) times that step time, plus its evaluations (a forward pass
costs about a third of a training step).
"""
from __future__ import annotations

import json
import statistics
import time
from typing import Any

from seqbench.spec.config import TrialSpec
from seqbench.plugins.factories import build_task
from seqbench.plugins.registry import Registry

QUICK_EVAL = 256  # examples of each periodic evaluation (train.train)


def _model_key(spec: TrialSpec) -> str:
    return json.dumps([spec.cell, spec.task, spec.length, spec.task_params, spec.hidden, spec.layers, spec.batch,
                       spec.dropout, spec.cell_params], sort_keys=True, default=str)


def step_seconds(spec: TrialSpec, registry: Registry, device: str) -> float:
    """The median time of the timed training steps of ``spec``'s model (2 warm-up steps, then at
    least 2 timed ones and until 0.1 s, at most 20); NaN when the model fails (the trial will
    report why)."""
    import torch

    from seqbench.train.measure import synchronize
    from seqbench.models.model import build_model

    try:
        task = build_task(registry.get("task", spec.task), spec.length, spec.task_params)
        torch.manual_seed(spec.seed)
        dev = torch.device(device)
        model = build_model(task, registry.get("cell", spec.cell), spec.hidden, spec.layers, spec.dropout,
                            spec.cell_params).to(dev)
        optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr)
        generator = torch.Generator(device=dev).manual_seed(spec.seed)
        times: list[float] = []
        while len(times) < 4 or (sum(times[2:]) < 0.1 and len(times) < 22):
            started = time.perf_counter()
            x, y = task.sample(spec.batch, generator, dev)
            loss = task.loss(model(x)[0], y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            synchronize(dev)
            times.append(time.perf_counter() - started)
        return statistics.median(times[2:])
    except Exception:  # noqa: BLE001 - a broken cell is the trial's to report
        return float("nan")


def estimate(trials: list[TrialSpec], registry: Registry, device: str) -> Any:
    """One row per trial: its key, cell, task, length, seed, configuration, width, and ``est_s``
    (estimated seconds); ``frame.attrs`` holds ``models`` (distinct models timed) and
    ``estimate_s`` (the total)."""
    import math

    import pandas as pd

    timed: dict[str, float] = {}
    rows = []
    for spec in trials:
        key = _model_key(spec)
        if key not in timed:
            timed[key] = step_seconds(spec, registry, device)
        step_s = timed[key]
        steps = spec.steps if spec.steps is not None else (spec.budget_s / step_s if step_s > 0 else 0)
        train_s = spec.budget_s if spec.steps is None else spec.steps * step_s
        if spec.steps is not None and spec.budget_s is not None:
            train_s = min(train_s, spec.budget_s)
        evals = int(steps // spec.eval_every) * min(QUICK_EVAL, spec.eval_examples) + 2 * spec.eval_examples
        eval_s = evals / spec.batch * step_s / 3
        rows.append({"trial": spec.key, "cell": spec.cell, "task": spec.task, "length": spec.length,
                     "seed": spec.seed, "config_label": spec.config_label, "hidden": spec.hidden,
                     "step_s": step_s, "est_s": train_s + eval_s if math.isfinite(step_s) else math.nan})
    frame = pd.DataFrame(rows)
    frame.attrs["models"] = len(timed)
    frame.attrs["estimate_s"] = float(frame["est_s"].sum()) if len(frame) else 0.0
    return frame


def describe(frame: Any) -> str:
    """One line: trials, configurations, distinct models and the estimated time."""
    if frame.empty:
        return "nothing to run"
    configs = frame.groupby(["task", "length", "cell"])["config_label"].nunique()
    total = frame.attrs.get("estimate_s", float(frame["est_s"].sum()))
    from seqbench.words import plural

    return (f"{plural(len(frame), 'trial')} ({len(configs):,} cell × task × length, "
            f"{plural(int(configs.sum()), 'configuration')}, {plural(frame['seed'].nunique(), 'seed')}; "
            f"{plural(frame.attrs.get('models', 0), 'distinct model')} timed): about {duration(total)} in all")


def duration(seconds: float) -> str:
    if seconds != seconds:
        return "an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
