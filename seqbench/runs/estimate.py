"""The size and expected duration of a sweep.

A trial's estimate is its steps (or its wall-clock budget) times its model's step time, plus its
evaluations (a forward pass costs about a third of a training step). Step times come from a
cache (``step_times.json`` in ``seqbench.data.download.cache_dir()``, i.e. ``$SEQBENCH_CACHE``),
keyed by cell, task, length, width, depth, batch, options, the trial's full configuration hash,
device, torch threads, host and torch version; every finished trial records its own mean step
time there. ``--dry-run`` times each distinct model the cache does not know for a few training
steps (at least 2, until 0.1 s, after 2 warm-up steps: the first steps of a new shape pay
one-off kernel set-up, up to a second on CPU). A run never times steps for its estimate: it
announces it at once when the cache knows every model, else after its first trial
(``RunEstimate``), the models not yet measured scaled from the measured ones by their FLOPs.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Optional

from seqbench.spec.config import TrialSpec
from seqbench.plugins.factories import build_task
from seqbench.plugins.registry import Registry

QUICK_EVAL = None  # examples of each periodic evaluation by default (train.train): None, the whole validation set
CACHE_FILE = "step_times.json"
CACHE_ENTRIES = 5000  # the oldest are dropped beyond this


def _model_key(spec: TrialSpec) -> str:
    parts = [spec.cell, spec.task, spec.length, spec.task_params, spec.hidden, spec.layers, spec.batch,
             spec.dropout, spec.cell_params]
    if spec.backbone != "plain":  # only then, so the cache keys of plain models stay
        parts.append(spec.backbone)
    return json.dumps(parts, sort_keys=True, default=str)


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
                            spec.cell_params, spec.backbone).to(dev)
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


def cache_path() -> Path:
    from seqbench.data.download import cache_dir

    return cache_dir() / CACHE_FILE


def cache_key(spec: TrialSpec, device: str, threads: int) -> str:
    """The step-time cache's key of ``spec``'s model on ``device`` with ``threads`` torch threads."""
    import platform

    import torch

    ident = [_model_key(spec), spec.config, str(device), int(threads), platform.node(), torch.__version__]
    return hashlib.sha1(json.dumps(ident, default=str).encode()).hexdigest()[:16]


def read_cache() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_cache(entries: dict[str, float], specs: dict[str, TrialSpec], device: str, threads: int) -> None:
    """Add ``entries`` (cache key → step seconds) to the cache; a cache that cannot be written is
    left as it is (it only saves time)."""
    if not entries:
        return
    data = read_cache()
    for key, step_s in entries.items():
        spec = specs[key]
        data.pop(key, None)
        data[key] = {"step_s": step_s, "cell": spec.cell, "task": spec.task, "length": spec.length,
                     "hidden": spec.hidden, "batch": spec.batch, "config": spec.config, "device": device,
                     "threads": threads, "at": time.time()}
    data = dict(list(data.items())[-CACHE_ENTRIES:])
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def estimate(trials: list[TrialSpec], registry: Registry, device: str, threads: Optional[int] = None,
             measure: bool = True) -> Any:
    """One row per trial: its key, cell, task, length, seed, configuration, width, ``step_s`` and
    ``est_s`` (estimated seconds). Step times come from the cache; with ``measure`` the models it
    does not know are timed here (``threads`` torch threads, default this process's) and
    cached, without it they are scaled from the known ones by FLOPs (NaN when none is known).
    ``frame.attrs`` holds ``models`` (distinct models), ``timed`` (timed here), ``cached``,
    ``guessed`` (scaled by FLOPs) and ``estimate_s`` (the total)."""
    import pandas as pd
    import torch

    threads = int(threads or torch.get_num_threads())
    cache = read_cache()
    known: dict[str, float] = {}
    keys: dict[str, str] = {}
    fresh: dict[str, float] = {}
    specs: dict[str, TrialSpec] = {}
    for spec in trials:
        model = _model_key(spec)
        if model in keys:
            continue
        key = keys[model] = cache_key(spec, device, threads)
        specs[key] = spec
        entry = cache.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("step_s"), (int, float)) and entry["step_s"] > 0:
            known[model] = float(entry["step_s"])
        elif measure:
            known[model] = fresh[key] = _timed(spec, registry, device, threads)
    write_cache({k: v for k, v in fresh.items() if math.isfinite(v)}, specs, device, threads)
    first = {_model_key(s): s for s in reversed(trials)}
    guessed = _scaled({m: first[m] for m in keys if m not in known}, {m: first[m] for m in known}, known, registry)
    held_out: dict[str, Optional[int]] = {}
    rows = [{"trial": spec.key, "cell": spec.cell, "task": spec.task, "length": spec.length, "seed": spec.seed,
             "config_label": spec.config_label, "hidden": spec.hidden, "backbone": spec.backbone,
             "state_budget": spec.state_budget, "params_budget": spec.params_budget,
             "step_s": (step_s := known.get(_model_key(spec), guessed.get(_model_key(spec), math.nan))),
             "est_s": trial_seconds(spec, step_s, _held_out(spec, registry, held_out))} for spec in trials]
    frame = pd.DataFrame(rows)
    frame.attrs.update(models=len(keys), timed=len(fresh), cached=len(known) - len(fresh),
                       guessed=sum(math.isfinite(v) for v in guessed.values()))
    frame.attrs["estimate_s"] = float(frame["est_s"].sum()) if len(frame) else 0.0
    return frame


def _held_out(spec: TrialSpec, registry: Registry, cache: dict) -> Optional[int]:
    """The examples of ``spec``'s validation set (its ``eval_examples`` or the task's default)."""
    key = json.dumps([spec.task, spec.length, spec.task_params, spec.eval_examples], sort_keys=True, default=str)
    if key not in cache:
        try:
            task = build_task(registry.get("task", spec.task), spec.length, spec.task_params)
            cache[key] = task.held_out_size(spec.eval_examples)
        except Exception:  # noqa: BLE001 - an estimate; the run reports a bad task itself
            cache[key] = spec.eval_examples
    return cache[key]


def trial_seconds(spec: TrialSpec, step_s: float, examples: Optional[int] = None) -> float:
    """Training (steps or budget) plus evaluations of one trial whose step takes ``step_s``; its
    held-out sets hold ``examples`` examples each (default: ``spec.eval_examples``, else 1024)."""
    if not math.isfinite(step_s):
        return math.nan
    steps = spec.steps if spec.steps is not None else (spec.budget_s / step_s if step_s > 0 else 0)
    train_s = spec.budget_s if spec.steps is None else spec.steps * step_s
    if spec.steps is not None and spec.budget_s is not None:
        train_s = min(train_s, spec.budget_s)
    examples = examples or spec.eval_examples or 1024
    quick = getattr(spec, "quick_eval", None) or QUICK_EVAL or examples
    evals = int(steps // spec.eval_every) * min(quick, examples) + 2 * examples
    return train_s + evals / spec.batch * step_s / 3


def _timed(spec: TrialSpec, registry: Registry, device: str, threads: int) -> float:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return step_seconds(spec, registry, device)
    finally:
        torch.set_num_threads(before)


def _scaled(unknown: dict[str, TrialSpec], measured: dict[str, TrialSpec], seconds: dict[str, float],
            registry: Registry) -> dict[str, float]:
    """Step times of the ``unknown`` models from the ``measured`` ones: their median seconds per
    training FLOP times each unknown model's FLOPs (``seqbench.models.flops``; the median measured step
    time where FLOPs are unknown). Empty when nothing is measured."""
    rates = [seconds[m] / f for m, s in measured.items()
             if math.isfinite(seconds[m]) and (f := _step_flops(s, registry)) > 0]
    plain = [v for v in seconds.values() if math.isfinite(v)]
    if not plain:
        return {}
    out = {}
    for model, spec in unknown.items():
        flops = _step_flops(spec, registry)
        out[model] = statistics.median(rates) * flops if rates and flops > 0 else statistics.median(plain)
    return out


def _step_flops(spec: TrialSpec, registry: Registry) -> float:
    """Training FLOPs of one step of ``spec``'s model (NaN when unknown); the cell's input taken
    as wide as its hidden state. Unknown for the block backbone (``seqbench.models.flops`` counts plain cells)."""
    from seqbench.models import flops

    if spec.backbone != "plain":
        return math.nan
    try:
        entry = registry.get("cell", spec.cell)
        per_token = flops.flops_per_token(entry, spec.hidden, spec.layers, spec.length, spec.hidden, spec.cell_params)
    except Exception:  # noqa: BLE001 - unknown FLOPs only make the guess coarser
        return math.nan
    return flops.TRAIN_FACTOR * per_token * spec.batch * spec.length


class RunEstimate:
    """A run's estimate, announced when it is ready: at once when the cache knows every model's
    step time, else after the first trial finishes (from its own time). ``finished`` records each
    finished trial's mean step time in the cache, so the next run's estimate is known at once."""

    def __init__(self, trials: list[TrialSpec], registry: Registry, device: str, threads: int,
                 announce: Optional[Callable[[Any], None]]) -> None:
        self.trials, self.registry, self.device, self.threads = trials, registry, device, threads
        self.announce = announce
        self._planned: Optional[dict[str, float]] = None
        if announce is not None:
            planned = self._plan()
            if planned.attrs["cached"] == planned.attrs["models"]:  # every model known (or none to run)
                self._say(planned)

    def _plan(self) -> Any:
        planned = estimate(self.trials, self.registry, self.device, self.threads, measure=False)
        self._planned = dict(zip(planned["trial"], planned["est_s"])) if len(planned) else {}
        return planned

    def seconds(self, spec: TrialSpec) -> float:
        """The planned estimate of ``spec``'s seconds (NaN when its model's step time is not known
        yet): what orders a parallel run's queue (``execute.schedule.LongestFirst``)."""
        if self._planned is None:
            self._plan()
        assert self._planned is not None
        return float(self._planned.get(spec.key, math.nan))

    def finished(self, spec: TrialSpec, row: dict[str, Any]) -> None:
        steps, train_s = row.get("steps") or 0, row.get("train_s")
        if str(row.get("status")) == "ok" and steps > 0 and train_s:
            threads = int(row.get("threads") or self.threads)
            key = cache_key(spec, self.device, threads)
            write_cache({key: float(train_s) / steps}, {key: spec}, self.device, threads)
        if self.announce is not None:
            self._say(estimate(self.trials, self.registry, self.device, self.threads, measure=False))

    def _say(self, planned: Any) -> None:
        announce, self.announce = self.announce, None
        if announce is not None:
            announce(planned)


def describe(frame: Any) -> str:
    """One line: trials, configurations, distinct models and the estimated time."""
    if frame.empty:
        return "nothing to run"
    configs = frame.groupby(["task", "length", "cell"])["config_label"].nunique()
    total = frame.attrs.get("estimate_s", float(frame["est_s"].sum()))
    from seqbench.words import plural

    sources = [f"{frame.attrs[k]} {says}" for k, says in (("cached", "from the cache"), ("guessed", "scaled by FLOPs"))
               if frame.attrs.get(k)]
    how = f"{plural(frame.attrs.get('models', 0), 'distinct model')} timed" + (f" ({', '.join(sources)})" if sources else "")
    return (f"{plural(len(frame), 'trial')} ({len(configs):,} cell × task × length, "
            f"{plural(int(configs.sum()), 'configuration')}, {plural(frame['seed'].nunique(), 'seed')}; "
            f"{how}): about {duration(total)} in all")


def duration(seconds: float) -> str:
    if seconds != seconds:
        return "an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
