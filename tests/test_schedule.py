"""A parallel run's queue (execute.schedule.LongestFirst): the trial expected to run longest goes
first, from what the run has seen of each model, its own estimate, or nothing (plan order); and
the process executor hands trials out in that order."""
from __future__ import annotations

import math

from seqbench.execute.processes import ProcessExecutor
from seqbench.execute.schedule import LongestFirst
from seqbench.execute.worker import WorkerSetup
from seqbench.plugins.registry import Registry
from seqbench.spec.config import TrialSpec


def spec(cell: str, seed: int = 0, steps: int = 100) -> TrialSpec:
    return TrialSpec(cell=cell, task="adding", length=12, seed=seed, steps=steps, budget_s=None, hidden=8,
                     layers=1, batch=4, lr=1e-3)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def order(queue: LongestFirst) -> list[str]:
    return [queue.take().key for _ in range(len(queue))]


def test_nothing_known_keeps_the_plan_order():
    specs = [spec("lstm"), spec("gru"), spec("lstm", 1), spec("gru", 1)]
    assert order(LongestFirst(specs)) == [s.key for s in specs]
    assert order(LongestFirst(specs, lambda s: math.nan)) == [s.key for s in specs]


def test_the_estimate_puts_the_longest_first_and_ties_keep_the_plan_order():
    specs = [spec("lstm"), spec("gru"), spec("lstm", 1), spec("gru", 1)]
    seconds = {"lstm": 3.0, "gru": 6.0}
    assert order(LongestFirst(specs, lambda s: seconds[s.cell])) == [
        "gru|adding|12|0", "gru|adding|12|1", "lstm|adding|12|0", "lstm|adding|12|1"]


def test_a_model_unknown_to_the_estimate_counts_as_the_median_of_the_known():
    specs = [spec("a"), spec("b"), spec("c"), spec("d")]
    seconds = {"a": 1.0, "b": math.nan, "c": 9.0, "d": 4.0}
    queue = LongestFirst(specs, lambda s: seconds[s.cell])
    assert queue.expected_seconds() == [1.0, 4.0, 9.0, 4.0]  # b: the median of 1, 9 and 4
    assert queue.take().cell == "c" and queue.take().cell == "b"  # b before d: a tie, plan order


def test_a_finished_trial_of_the_same_model_outranks_the_estimate():
    clock = Clock()
    specs = [spec("lstm"), spec("gru"), spec("lstm", 1), spec("gru", 1), spec("rnn")]
    estimate = {"lstm": 3.0, "gru": 3.0, "rnn": 2.0}  # FLOPs say lstm and gru cost the same
    queue = LongestFirst(specs, lambda s: estimate[s.cell], clock)
    first, second = queue.take(), queue.take()
    assert (first.cell, second.cell) == ("lstm", "gru")  # a tie: plan order
    queue.started(first), queue.started(second)
    clock.now = 4.0
    queue.finished(first, {"status": "ok", "steps": 100, "wall_s": 4.0})  # lstm: 0.04 s a step, not 0.03
    queue.progressed(second, 50)  # gru: half way after 4 s, 0.08 s a step
    # rnn: its estimate times the median of how far off it was for lstm (4/3) and gru (8/3)
    assert queue.expected_seconds() == [4.0, 8.0, 2.0 * 2.0]
    assert queue.take().cell == "gru"


def test_a_trial_given_back_runs_before_anything_else():
    specs = [spec("lstm"), spec("gru")]
    queue = LongestFirst(specs, lambda s: {"lstm": 1.0, "gru": 2.0}[s.cell])
    taken = queue.take()
    queue.give_back(taken)
    assert len(queue) == 2 and queue.take() is taken


def test_the_process_executor_hands_trials_out_longest_first(tmp_path):
    registry = Registry()
    specs = [spec("lstm", 0, 4), spec("gru", 0, 4), spec("rnn", 0, 4)]
    for s in specs:
        s.eval_examples, s.eval_every = 16, 2
    setup = WorkerSetup(plugins=[], plugin_env="", threads=1, flush_denormal=True, checkpoint_dir=str(tmp_path))
    executor = ProcessExecutor(1, setup, registry)  # one worker: rows come back in the order given
    seconds = {"lstm": 1.0, "gru": 3.0, "rnn": 2.0}
    try:
        rows = [row for _, row in executor.run(specs, lambda *a, **k: None, lambda s: seconds[s.cell])]
    finally:
        executor.close()
    assert [row["cell"] for row in rows] == ["gru", "rnn", "lstm"]
    assert all(row["status"] == "ok" for row in rows)


def test_a_model_seen_rescales_the_estimate_of_the_others_even_when_none_of_its_trials_is_left():
    specs = [spec("a"), spec("b"), spec("c")]
    queue = LongestFirst(specs, lambda s: {"a": 3.0, "b": 2.0, "c": 1.0}[s.cell])
    first = queue.take()
    queue.started(first)
    queue.finished(first, {"status": "ok", "steps": 100, "wall_s": 6.0})  # twice its estimate
    assert queue.expected_seconds() == [4.0, 2.0]


def test_ordered_is_the_order_take_gives_when_nothing_more_is_seen():
    specs = [spec("a"), spec("b"), spec("c"), spec("d"), spec("e")]
    seconds = {"a": 1.0, "b": math.nan, "c": 9.0, "d": 4.0, "e": 2.0}
    one, other = LongestFirst(specs, lambda s: seconds[s.cell]), LongestFirst(specs, lambda s: seconds[s.cell])
    assert [s.cell for s in one.ordered()] == ["c", "d", "b", "e", "a"]  # b: the median estimate, 3
    assert [s.key for s in one.ordered()] == order(other)
    again = LongestFirst(specs, lambda s: seconds[s.cell])
    again.give_back(specs[0])
    assert again.ordered()[0] is specs[0]  # a trial given back goes first
