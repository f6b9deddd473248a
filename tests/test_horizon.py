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
