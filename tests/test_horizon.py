"""The memory horizon search (seqbench horizon): the search finds a known threshold to the
resolution, lengths are decided by a majority of seeds in seed order, an interrupted search
resumes without training its finished probes again; stopping once solved."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import seqbench
from seqbench.cli import main
from seqbench.errors import UsageError
from seqbench.plugins.registry import Registry
from seqbench.sweep.horizon import HorizonRequest, decide, horizon, max_probes, search, seeds_to_add

# every probe: one training step of a 4-unit model, 8 held-out examples
TINY = dict(steps=1, hidden=4, batch=4, eval_examples=8)
THRESHOLD = ["fixtures.threshold_task"]


def probe_all(start, max_length, resolution, solved):
    """Run the pure search against an oracle ``solved(length)``; the final state and the probes."""
    outcomes = {}
    while True:
        state = search(start, max_length, resolution, outcomes)
        if state.next is None:
            return state
        assert state.next not in outcomes
        outcomes[state.next] = solved(state.next)


@pytest.mark.parametrize("k", [1, 2, 5, 11, 12, 13, 24, 25, 26, 37, 49, 50, 99, 137, 400, 1000, 4095, 4096, 5000])
def test_search_finds_the_threshold_to_the_resolution(k):
    exact = probe_all(25, 4096, 0.0, lambda length: length <= k)
    coarse = probe_all(25, 4096, 0.1, lambda length: length <= k)
    if k < 2:  # even the shortest length fails: 25, then halved 12, 6, 3 and 2
        assert exact.horizon is None and exact.hi == 2 and exact.probes == [25, 12, 6, 3, 2]
    elif k < 25:  # the first length fails: halved until one is solved, then bisected
        assert exact.horizon == k and exact.hi == k + 1 and exact.probes[:2] == [25, 12]
        assert coarse.horizon <= k < coarse.hi <= max(coarse.horizon * 1.1, coarse.horizon + 1)
        assert len(coarse.probes) <= max_probes(25, 4096, 0.1)
    elif k >= 4096:  # the longest length is solved
        assert exact.horizon == 4096 and exact.hi is None and exact.probes[-1] == 4096
    else:
        assert exact.horizon == k and exact.hi == k + 1
        assert coarse.horizon <= k < coarse.hi <= coarse.horizon * 1.1
        assert len(coarse.probes) <= max_probes(25, 4096, 0.1)
    assert coarse.probes[: len([p for p in coarse.probes if p <= 4096])] == coarse.probes  # never past max_length


def test_majority_of_seeds():
    assert decide([True, True], 3) is True and decide([False, False], 3) is False
    assert decide([True, False], 3) is None and decide([True, False, True], 3) is True
    assert decide([True, False, False], 3) is False
    assert decide([True, True], 4) is None and decide([True, True, True], 4) is True  # 3 of 4
    assert decide([False, False], 4) is False  # 2 failures: at most 2 of 4 can solve it
    assert decide([True], 1) is True and decide([False], 1) is False
    assert seeds_to_add([], 3) == 2 and seeds_to_add([True, False], 3) == 1 and seeds_to_add([], 4) == 2


def test_horizon_finds_a_plugin_tasks_threshold(tmp_path):
    registry = Registry(THRESHOLD)
    found = horizon("rnn", "threshold", seeds=1, max_length=400, out=tmp_path, registry=registry, **TINY)
    row = found.iloc[0]
    assert row["horizon"] <= 137 < row["failed_at"] <= row["horizon"] * 1.1  # the fixture's k
    results = pd.read_csv(Path(found.attrs["run_dir"]) / "results.csv")
    assert sorted(results["length"]) == sorted(length for length, *_ in row["probes"])  # each probe one row
    assert set(results["status"]) == {"ok"} and (results["steps"] == 1).all()
    config = json.loads((Path(found.attrs["run_dir"]) / "config.json").read_text())
    assert config["horizon"] == {"cells": ["rnn"], "task": "threshold", "seeds": 1, "start": 25,
                                 "max_length": 400, "resolution": 0.1, "min_length": 2}
    assert config["configs"][0]["stop_when_solved"] is True
    assert {f"threshold|{T}" for T in results["length"]} <= set(config["tasks"])  # every probed length described


def test_when_the_first_length_fails_lengths_are_halved(tmp_path):
    found = horizon("rnn", "threshold", seeds=1, start=25, resolution=0.0, out=tmp_path / "a",
                    registry=Registry(THRESHOLD), task_params={"threshold": {"k": 5}}, **TINY)
    row = found.iloc[0]
    assert row["horizon"] == 5 and row["failed_at"] == 6 and row["bound"] == "="
    assert [p[0] for p in row["probes"]][:3] == [25, 12, 6]
    # the task refuses lengths below 6: halving stops there and says so
    found = horizon("rnn", "threshold", seeds=1, start=25, out=tmp_path / "b", registry=Registry(THRESHOLD),
                    task_params={"threshold": {"k": 1, "shortest": 6}}, **TINY)
    row = found.iloc[0]
    assert row["horizon"] is None and row["bound"] == "<" and row["failed_at"] == 6
    assert [p[0] for p in row["probes"]] == [25, 12, 6]
    config = json.loads((Path(found.attrs["run_dir"]) / "config.json").read_text())
    assert config["horizon"]["min_length"] == 6
    from seqbench.reporting.horizon_tables import tables

    table = tables(pd.read_csv(Path(found.attrs["run_dir"]) / "results.csv"), config)[0]
    assert table.rows[0][2] == "< 6"


def test_a_length_is_decided_by_the_first_seeds_in_order(tmp_path):
    # seeds 0 and 2 solve up to T=100, seed 1 only up to 50: at 100 the third seed decides (2 of 3);
    # at 200 seeds 0 and 1 both fail, so seed 2 never runs there
    registry = Registry(THRESHOLD)
    found = horizon("gru", "threshold", seeds=3, start=50, max_length=200, resolution=1.0, out=tmp_path,
                    registry=registry, task_params={"threshold": {"k": 100, "k_seed1": 50}}, **TINY)
    assert found.iloc[0]["horizon"] == 100 and found.iloc[0]["failed_at"] == 200
    assert found.iloc[0]["probes"] == [(50, True, 2, 2), (100, True, 2, 3), (200, False, 0, 2)]
    results = pd.read_csv(Path(found.attrs["run_dir"]) / "results.csv")
    ran = sorted(zip(results["length"], results["seed"]))
    assert ran == [(50, 0), (50, 1), (100, 0), (100, 1), (100, 2), (200, 0), (200, 1)]


def test_interrupted_search_resumes_reusing_finished_probes(tmp_path):
    from fixtures import threshold_task

    options = dict(seeds=1, start=50, max_length=200, resolution=1.0, **TINY)
    with pytest.raises(KeyboardInterrupt) as stopped:
        horizon("lstm", "threshold", out=tmp_path, registry=Registry([*THRESHOLD, "fixtures.interrupt_after_first"]),
                **options)
    run_dir = str(stopped.value)
    assert len(pd.read_csv(Path(run_dir) / "results.csv")) == 1  # the first probe, saved
    with pytest.raises(UsageError, match="seqbench horizon --resume"):
        seqbench.run(resume=run_dir, registry=Registry(THRESHOLD))
    with pytest.raises(UsageError, match="drop --seeds"):
        horizon(resume=run_dir, seeds=3, registry=Registry(THRESHOLD))
    threshold_task.EVENTS.clear()
    found = horizon(resume=run_dir, registry=Registry(THRESHOLD))
    assert threshold_task.EVENTS == ["lstm|threshold|100|0", "lstm|threshold|200|0"]  # T=50 was not trained again
    assert found.iloc[0]["horizon"] == 100 and found.iloc[0]["done"]
    results = pd.read_csv(Path(run_dir) / "results.csv")
    assert sorted(results["length"]) == [50, 100, 200] and results["trial"].is_unique
    fresh = horizon("lstm", "threshold", out=tmp_path / "fresh", registry=Registry(THRESHOLD), **options)
    again = pd.read_csv(Path(fresh.attrs["run_dir"]) / "results.csv")
    assert again.sort_values("length")["loss"].tolist() == results.sort_values("length")["loss"].tolist()


def test_stop_when_solved(tmp_path):
    common = dict(hidden=4, batch=4, eval_examples=8, steps=40, eval_every=10, plugins=THRESHOLD)
    stopped = seqbench.run("rnn", "threshold", [10], stop_when_solved=True, out=tmp_path, **common)
    full = seqbench.run("rnn", "threshold", [10], out=tmp_path, **common)
    assert stopped["steps"].iloc[0] == 10 and bool(stopped["stopped_early"].iloc[0])
    assert full["steps"].iloc[0] == 40 and not bool(full["stopped_early"].iloc[0])
    assert stopped["config"].iloc[0] != full["config"].iloc[0]  # a different configuration


def test_horizon_command_table_report_and_plot(tmp_path, capsys):
    args = ["horizon", "-p", "fixtures.threshold_task", "--task", "threshold", "--cells", "rnn,gru", "--seeds", "1",
            "--max-length", "100", "--steps", "1", "--hidden", "4", "--batch", "64", "--out", str(tmp_path), "-q"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "threshold · memory horizon" in out and "threshold · lengths tried" in out
    assert "≥ 100" in out and "✓ solved" in out and "seqbench plot" in err  # k=137: every length solved
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    assert main(["report", str(run_dir), "-p", "fixtures.threshold_task", "--format", "markdown"]) == 0
    assert "memory horizon" in capsys.readouterr().out
    pytest.importorskip("matplotlib")
    from seqbench.reporting.plots import figures

    figs = figures(run_dir)
    assert set(figs) == {"horizon-threshold", "length-threshold"}
    ax = figs["horizon-threshold"].axes[0]
    assert "solved fraction" in ax.get_ylabel() and ax.get_xscale() == "log"


def test_horizon_bad_input_is_one_line(tmp_path, capsys):
    for args, message in ((["--resolution", "-1"], "resolution must be"),
                          (["--task", "addng"], "did you mean 'adding'"),
                          (["--from", "100", "--max-length", "50"], "below the first length"),
                          (["--lr", "1e-3,3e-3"], "one configuration per cell")):
        assert main(["horizon", "--cells", "rnn", "--out", str(tmp_path), *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("damaged", [{"cells": ["rnn"], "bogus": 1}, {"cells": ["rnn"], "seeds": "many"}, [1, 2]])
def test_a_damaged_saved_request_is_one_line(damaged):
    with pytest.raises(UsageError, match=r"^config\.json is damaged: horizon: "):
        HorizonRequest.saved(damaged)


# --------------------------------------------------------------------------- the bracket, validated against an oracle


def simulated_search(rng, slope=5.0, t50=100.0, seeds=3, start=25, max_length=4096, resolution=0.1):
    """One search against a simulated oracle: each seed solves T with probability logistic in ln T
    (true 50 % point ``t50``); seeds are drawn in order until the majority is decided, as the
    real search does. Returns the final state and every trial (length, solved)."""
    import math

    outcomes, trials = {}, []
    while True:
        state = search(start, max_length, resolution, outcomes)
        if state.next is None:
            return state, trials
        solved = []
        while decide(solved, seeds) is None:
            p = 1 / (1 + math.exp(slope * (math.log(state.next) - math.log(t50))))
            solved.append(rng.random() < p)
            trials.append((state.next, solved[-1]))
        outcomes[state.next] = decide(solved, seeds)


def test_the_bracket_finds_a_simulated_oracles_t50_within_the_stated_accuracy():
    import random

    import numpy as np

    from seqbench.sweep.horizon import bracket

    rng = random.Random(7)
    found, longest = [], []
    for _ in range(50):
        state, trials = simulated_search(rng)
        found.append(bracket(trials, draws=200).t50)
        longest.append(state.horizon)
    q10, q50, q90 = np.quantile(found, [0.1, 0.5, 0.9])
    # stated (module docstring, README, table caption): about ±20 % with 3 seeds, unbiased
    assert 0.9 * 100 <= q50 <= 1.1 * 100, (q10, q50, q90)
    assert 0.78 * 100 <= q10 and q90 <= 1.25 * 100, (q10, q50, q90)
    assert np.quantile(longest, 0.5) < q50  # the longest solved length alone is biased low (92 for 100)


def test_the_bracket_is_deterministic_and_brackets_a_clean_threshold():
    from seqbench.sweep.horizon import bracket

    trials = [(T, s, T <= 100) for T in (25, 50, 100, 120, 200) for s in range(3)]
    fit = bracket(trials)
    assert 100 <= fit.t50 <= 120 and fit.trials == 15  # between the last solved and the first failed T
    assert 50 <= fit.low < 100 and 120 < fit.high <= 200  # a resample may miss T=100 or T=120: honestly wider
    assert bracket(trials) == fit  # a seeded bootstrap: the same trials, the same interval
    assert bracket([(T, 0, True) for T in (25, 50)]).t50 is None  # nothing failed: no 50 % point
    mixed = [(T, s, s < 2 if T == 50 else T < 50) for T in (25, 50, 100) for s in range(3)]
    assert 50 < bracket(mixed).t50 < 100  # 2 of 3 at 50, none at 100


def test_a_non_monotone_outcome_is_shown_and_searched_around():
    solved = {25: True, 50: False, 100: True, 200: False, 400: False}  # 100 solved above a failed 50
    state = probe_all(25, 4096, 1.0, lambda T: solved.get(T, T <= 130))
    assert state.probes[:5] == [25, 50, 100, 200, 400]  # the doubling went on past the failure at 50
    assert state.horizon >= 100 and state.hi <= 200
    from seqbench.sweep.horizon import inversions

    assert inversions([(T, solved[T], 0, 0) for T in state.probes[:5]]) == [(50, 100)]
    # and the tables show it
    rows = [dict(cell="gru", length=T, seed=s, solved=ok, val_solved=ok, status="ok", params=100, train_s=1.0,
                 steps=1, loss=0.1) for T, ok in solved.items() for s in range(1)]
    frame = pd.DataFrame(rows)
    config = {"horizon": HorizonRequest(["gru"], "adding", seeds=1, resolution=1.0, max_length=400).to_dict(),
              "configs": [{"steps": 100, "params": 100}], "tasks": {}}
    from seqbench.reporting.horizon_tables import tables

    head, probes = tables(frame, config)
    assert "non-monotone" in head.caption and head.rows[0][2] == "100"
    assert [row[3] for row in probes.rows][:3] == ["✓ solved", "✗ failed", "✓ solved ⚠"]


def test_the_search_decides_on_validation_and_reports_test(tmp_path):
    from seqbench.sweep.horizon import seed_results

    frame = pd.DataFrame([dict(cell="gru", length=50, seed=0, solved=True, val_solved=False),
                          dict(cell="gru", length=50, seed=1, solved=False, val_solved=True)])
    assert seed_results(frame, "gru", 50) == {0: False, 1: True}
    old = frame.drop(columns="val_solved")  # a run made before the column: its test flag
    assert seed_results(old, "gru", 50) == {0: True, 1: False}
    found = horizon("rnn", "threshold", seeds=1, max_length=100, out=tmp_path, registry=Registry(THRESHOLD), **TINY)
    results = pd.read_csv(Path(found.attrs["run_dir"]) / "results.csv")
    assert "val_solved" in results and results["val_solved"].all()


def test_the_same_command_twice_gives_the_identical_horizon(tmp_path):
    options = dict(seeds=3, start=50, max_length=400, resolution=0.25, registry=Registry(THRESHOLD),
                   task_params={"threshold": {"k": 150, "k_seed1": 60}}, steps=3, hidden=4, batch=4,
                   eval_examples=8)
    first = horizon("gru", "threshold", out=tmp_path / "a", **options)
    second = horizon("gru", "threshold", out=tmp_path / "b", **options)
    columns = ["horizon", "failed_at", "t50", "t50_low", "t50_high", "probes", "trials"]
    assert first[columns].to_dict("records") == second[columns].to_dict("records")
    assert first.iloc[0]["t50"] is not None
    a, b = (pd.read_csv(Path(f.attrs["run_dir"]) / "results.csv").sort_values("trial") for f in (first, second))
    assert a["val_loss"].tolist() == b["val_loss"].tolist()  # a step budget: the same training


def test_a_wall_clock_budget_is_labelled_machine_dependent():
    from seqbench.reporting.horizon_tables import _budget
    from seqbench.spec.config import RunConfig
    from seqbench.sweep.horizon import describe

    request = HorizonRequest(["gru"], "adding")
    assert "depends on this machine" in describe(request, RunConfig(cells=["gru"], budget_s="5s"))
    assert "machine" not in describe(request, RunConfig(cells=["gru"], steps=100))
    assert "machine-dependent" in _budget({"budget_s": 5, "params": 20000})
    assert "machine" not in _budget({"steps": 100, "params": 20000})
