"""Which queued trial a free worker takes next: the one expected to run longest (longest
processing time first), so that a run does not end with one worker still busy on a long trial
while the others sit idle.

A trial's expected seconds come, best first, from what this run has seen of its model (the
trials of the same cell × task × length × configuration, any seed): the seconds per step of a
finished one, else of a running one at its last progress report (the ``seqbench_trial_log``
events at each periodic evaluation), times the trial's steps; then from the run's own estimate
(``expected``: the step-time cache, or FLOPs scaled from a measured model), rescaled by how far
the estimate was off for the models seen so far; then, for a model nothing is known of, the
median estimate of the run's trials. Ties keep the plan's order, so a run with nothing known
runs in plan order. A trial given back (its worker died) is taken before any other.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Optional

from seqbench.spec.config import TrialSpec

def model_of(spec: TrialSpec) -> tuple:
    """What a trial's duration depends on: everything but its seed."""
    return spec.cell, spec.task, spec.length, spec.config, spec.config_label


class LongestFirst:
    """The queue of a parallel executor. ``expected(spec)`` is the run's estimate in seconds (NaN
    when unknown); the executor reports each trial's start, progress and end with ``started``,
    ``progressed`` and ``finished``, and asks ``take`` for the next trial."""

    def __init__(self, specs: list[TrialSpec], expected: Optional[Callable[[TrialSpec], float]] = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.queue = list(specs)
        self.first: list[TrialSpec] = []  # given back: run again before anything else
        self.clock = clock
        self.static = {s.key: _finite(expected(s)) if expected else math.nan for s in specs}
        known = [v for v in self.static.values() if math.isfinite(v)]
        self.static_fill = statistics.median(known) if known else math.nan  # for a model the estimate lacks
        self.static_rates = {model_of(s): self.static[s.key] / s.steps for s in specs
                             if s.steps and math.isfinite(self.static[s.key])}  # estimated seconds per step
        self.began: dict[str, float] = {}  # trial key → when it was handed out
        self.rates: dict[tuple, float] = {}  # seconds per step, from a finished trial
        self.running: dict[tuple, float] = {}  # seconds per step so far, of a running trial

    def __len__(self) -> int:
        return len(self.first) + len(self.queue)

    def give_back(self, spec: TrialSpec) -> None:
        self.first.append(spec)

    def started(self, spec: TrialSpec) -> None:
        self.began[spec.key] = self.clock()

    def progressed(self, spec: TrialSpec, step: Optional[int]) -> None:
        began = self.began.get(spec.key)
        if began is not None and isinstance(step, int) and step > 0:
            self.running[model_of(spec)] = (self.clock() - began) / step

    def finished(self, spec: TrialSpec, row: dict) -> None:
        steps, wall = row.get("steps") or 0, row.get("wall_s")
        began = self.began.pop(spec.key, None)
        if str(row.get("status")) in ("ok", "diverged") and steps > 0 and wall:
            self.rates[model_of(spec)] = float(wall) / steps
        elif began is not None and steps > 0:
            self.rates[model_of(spec)] = (self.clock() - began) / steps

    def take(self) -> TrialSpec:
        """The next trial to run (IndexError when none is left)."""
        if self.first:
            return self.first.pop(0)
        if not self.queue:
            raise IndexError("no trial left")
        seconds = self.expected_seconds()
        best = max(range(len(self.queue)), key=lambda i: (seconds[i], -i))
        return self.queue.pop(best)

    def ordered(self) -> list[TrialSpec]:
        """Every trial left, in the order ``take`` would give them if nothing more were seen (one
        pass: what an executor that submits everything at once needs)."""
        seconds = self.expected_seconds()
        order = sorted(range(len(self.queue)), key=lambda i: (-seconds[i], i))
        return self.first + [self.queue[i] for i in order]

    def expected_seconds(self) -> list[float]:
        """Each queued trial's expected seconds (0 for all when nothing is known)."""
        observed = {**self.running, **self.rates}
        ratios = [rate / self.static_rates[group] for group, rate in observed.items() if group in self.static_rates]
        scale = statistics.median(ratios) if ratios else 1.0  # how far off the estimate was
        seen = [self._seen(spec) for spec in self.queue]
        guess = [s if math.isfinite(s) else self.static[spec.key] * scale for spec, s in zip(self.queue, seen)]
        known = [g for g in guess if math.isfinite(g)]
        if math.isfinite(self.static_fill):
            fill = self.static_fill * scale
        else:
            fill = statistics.median(known) if known else 0.0
        return [g if math.isfinite(g) else fill for g in guess]

    def _seen(self, spec: TrialSpec) -> float:
        group = model_of(spec)
        rate = self.rates.get(group, self.running.get(group, math.nan))
        if not math.isfinite(rate):
            return math.nan
        if spec.steps is None:  # a wall-clock budget: it takes its budget
            return float(spec.budget_s or math.nan)
        return rate * spec.steps


def _finite(value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) and value > 0 else math.nan
