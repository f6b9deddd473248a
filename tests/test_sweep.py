"""Sweeps: grids, seeded ranges, option sets, selection on validation only, early stopping,
validation of every configuration before training, the plan and its estimate."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

import seqbench
from seqbench.cli import main
from seqbench.spec.config import RunConfig, parse_options
from seqbench.errors import UsageError
from seqbench.spec.space import Range
from seqbench.sweep.tune import select

from conftest import TINY, TINY_ARGS


# --------------------------------------------------------------------------- grids and ranges


def test_grid_is_the_cartesian_product_times_seeds(tmp_path):
    frame = seqbench.run("gru", "adding", [5], lr="1e-3,1e-2", hidden=[4, 8], seeds=2, out=tmp_path,
                         **{k: v for k, v in TINY.items() if k != "hidden"})
    assert len(frame) == 2 * 2 * 2 and set(frame["status"]) == {"ok"}
    pairs = set(zip(frame["lr"], frame["hidden"]))
    assert pairs == {(1e-3, 4), (1e-3, 8), (1e-2, 4), (1e-2, 8)}
    assert frame["config"].nunique() == 4 and frame["trial"].nunique() == 8
    labels = frame.groupby("config")["config_label"].first()
    assert set(labels) == {"hidden=4, lr=0.001", "hidden=8, lr=0.001", "hidden=4, lr=0.01", "hidden=8, lr=0.01"}
    # the two seeds of a configuration share its key column and differ in their numbers
    for _, group in frame.groupby("config"):
        assert sorted(group["seed"]) == [0, 1] and group["loss"].nunique() == 2


def test_a_cell_option_grid_multiplies_that_cell_only(tmp_path):
    frame = seqbench.run(["lstm", "gru"], "adding", [5], out=tmp_path, cell_params={"lstm": {"forget_bias": [0, 1]}},
                         **TINY)
    assert list(frame["cell"]).count("lstm") == 2 and list(frame["cell"]).count("gru") == 1
    lstm = frame[frame.cell == "lstm"]
    assert sorted(lstm["config_label"]) == ["forget_bias=0", "forget_bias=1"]
    assert sorted(json.loads(o)["forget_bias"] for o in lstm["cell_opts"]) == [0, 1]
    assert lstm["loss"].nunique() == 2  # the option reached the model
    gru = frame[frame.cell == "gru"].iloc[0]
    assert gru["trial"] == "gru|adding|5|0" and gru["config_label"] == ""


def test_ranges_draw_the_same_configurations_for_the_same_seed():
    def draws(seed):
        config = RunConfig(cells=["lstm", "gru"], lr="1e-4..1e-2", hidden="8..64", samples=6, sweep_seed=seed)
        return {cell: config.configurations(cell, "adding") for cell in ("lstm", "gru")}

    a, b, other = draws(3), draws(3), draws(4)
    assert a == b and a != other
    lrs = [c["lr"] for c in a["lstm"]]
    assert len(a["lstm"]) == 6 and len(set(lrs)) == 6
    assert all(1e-4 <= lr <= 1e-2 for lr in lrs)
    assert all(isinstance(c["hidden"], int) and 8 <= c["hidden"] <= 64 for c in a["lstm"])
    assert a["lstm"] == a["gru"]  # every cell gets the same draws of the shared options


def test_ranges_are_log_uniform_for_the_learning_rate():
    config = RunConfig(cells=["gru"], lr="1e-5..1e-1", samples=400)
    logs = [math.log10(c["lr"]) for c in config.configurations("gru", "adding")]
    below = sum(x < -3 for x in logs) / len(logs)  # half the log range lies below 1e-3
    assert 0.4 < below < 0.6


def test_grid_and_ranges_from_the_command_line_parse():
    options = parse_options("--cell-opt", ["lstm.forget_bias=0,1", "rnn.init=uniform,identity", "lstm.t_max=10..100"])
    assert options["lstm"]["forget_bias"] == [0, 1] and options["rnn"]["init"] == ["uniform", "identity"]
    assert options["lstm"]["t_max"] == Range(10, 100, integer=True)
    config = RunConfig(cells=["lstm"], lr="1e-3, 3e-3", dropout="0..0.5", samples=2, cell_params=options)
    assert config.lr == [1e-3, 3e-3] and isinstance(config.dropout, Range) and not config.dropout.log
    again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))  # config.json round trip (resume)
    assert again.configurations("lstm", "adding") == config.configurations("lstm", "adding")


def test_option_sets_are_one_dimension():
    config = RunConfig(cells=["lstm"], lr=[1e-3, 1e-2],
                       cell_params={"lstm": [{"forget_bias": 0}, {"forget_bias": 1}, {"init": "chrono"}]})
    configs = config.configurations("lstm", "adding")
    assert len(configs) == 6
    assert {(c["lr"], c.get("cell.forget_bias"), c.get("cell.init")) for c in configs} == {
        (lr, fb, init) for lr in (1e-3, 1e-2) for fb, init in ((0, None), (1, None), (None, "chrono"))}


@pytest.mark.parametrize("options, message", [
    ({"samples": 3}, "needs a range"),
    ({"lr": "1e-2..1e-3"}, "LOW < HIGH"),
    ({"lr": "1e-3,-1"}, "positive"),
    ({"hidden": "8..x"}, "positive integer"),
    ({"dropout": [0.1, 1.5]}, "dropout must be in"),
])
def test_bad_grids_and_ranges_are_usage_errors(options, message):
    with pytest.raises(UsageError, match=message):
        RunConfig(cells=["lstm"], **options)


def test_a_suite_declares_grids_ranges_and_tuning(tmp_path):
    from seqbench.spec.suite import load_suite

    suite = tmp_path / "s.toml"
    suite.write_text('[defaults]\ncells = ["lstm", "gru"]\ntune = true\nlr = [1e-3, 1e-2]\n'
                     '[[part]]\ntasks = ["adding"]\nclip = "0.5..2"\nsamples = 2\n'
                     'cell_params = { lstm = [ { forget_bias = 0 }, { init = "chrono" } ] }\n')
    _, (config,) = load_suite(suite)
    assert config.tune and config.samples == 2
    assert len(config.configurations("lstm", "adding")) == 2 * 2 * 2
    assert len(config.configurations("gru", "adding")) == 2 * 2


# --------------------------------------------------------------------------- selection


def _frame(rows):
    return pd.DataFrame([dict(task="adding", length=5, cell="lstm", status="ok", **r) for r in rows])


def test_selection_reads_validation_and_never_test():
    rows = [dict(config="a", seed=s, val_loss=0.1 + s * 0.01, loss=0.9) for s in range(2)] \
        + [dict(config="b", seed=s, val_loss=0.2, loss=0.05) for s in range(2)]
    chosen = select(_frame(rows))
    assert set(chosen.loc[chosen.selected, "config"]) == {"a"} and set(chosen["n_configs"]) == {2}
    poisoned = _frame(rows).assign(loss=lambda f: f["loss"].where(f.config == "a", -1e9))  # b's test "perfect"
    assert set(select(poisoned).query("selected")["config"]) == {"a"}
    noisy = _frame(rows).assign(loss=float("nan"))  # no test numbers at all
    assert set(select(noisy).query("selected")["config"]) == {"a"}


def test_selection_follows_the_tasks_metric_direction_and_distrusts_diverged_seeds():
    info = {"copy|5": {"metric": "accuracy", "metric_higher_is_better": True}}
    frame = pd.DataFrame([dict(task="copy", length=5, cell="gru", status=st, config=c, val_accuracy=v)
                          for c, st, v in (("a", "ok", 0.5), ("a", "ok", 0.6), ("b", "ok", 0.9), ("b", "diverged", 0.99),
                                           ("c", "ok", 0.7), ("c", "ok", 0.7))])
    assert set(select(frame, info).query("selected")["config"]) == {"c"}


def test_a_poisoned_test_split_does_not_change_what_is_selected(tmp_path):
    common = dict(cells="gru", tasks="poisonable", lengths=[6], lr=[1e-3, 3e-2], seeds=2, tune=True,
                  plugins=["fixtures.poisoned_test"], **TINY)
    clean = seqbench.run(out=tmp_path / "a", **common)
    poisoned = seqbench.run(out=tmp_path / "b", task_params={"poisonable": {"poison": True}}, **common)
    assert clean["selected"].sum() == 2 and poisoned["selected"].sum() == 2
    assert set(clean.query("selected")["lr"]) == set(poisoned.query("selected")["lr"])
    assert (poisoned["loss"] > 1e4).all() and (clean["loss"] < 10).all()  # the test split really differed
    assert list(clean["val_loss"]) == list(poisoned["val_loss"])
    on_disk = pd.read_csv(f"{clean.attrs['run_dir']}/results.csv")
    assert on_disk["selected"].sum() == 2


def test_tuned_tables_show_the_choice_and_report_all_shows_every_configuration(tmp_path, capsys):
    args = ["run", "--cells", "gru,rnn", "--tasks", "adding", "--lengths", "5", "--lr", "1e-3,3e-2", "--tune",
            "--seeds", "2", "--out", str(tmp_path), "-q", *TINY_ARGS]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "chosen (of n)" in out and "(of 2)" in out and "tuned: per cell" in out and "val loss" in out
    run_dir = next(tmp_path.iterdir())
    assert main(["report", str(run_dir), "--format", "csv"]) == 0
    tuned = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert len(tuned) == 2 and set(tuned["n_configs"]) == {2}
    assert main(["report", str(run_dir), "--all", "--format", "csv"]) == 0
    every = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert len(every) == 4 and set(every["config_label"]) == {"lr=0.001", "lr=0.03"}


def test_tune_reports_test_numbers_from_fresh_seeds_selection_never_saw(tmp_path):
    from seqbench.sweep.tune import tuned

    frame = seqbench.run("gru", "adding", [5], lr=[1e-3, 3e-2], seeds=2, tune=True, out=tmp_path, **TINY)
    search, final = frame[frame["phase"] == "search"], frame[frame["phase"] == "final"]
    assert len(search) == 4 and sorted(search["seed"]) == [0, 0, 1, 1] and len(final) == 3
    chosen = set(search.loc[search["selected"], "config"])
    assert len(chosen) == 1 and set(final["config"]) == chosen  # the selected configuration, retrained
    assert sorted(final["seed"]) == [2, 3, 4]  # fresh seeds, at least 3: never trained in the search
    assert not set(final["trial"]) & set(search["trial"])
    reported = tuned(frame)
    assert sorted(reported["seed"]) == [2, 3, 4] and (reported["phase"] == "final").all()
    assert set(reported["loss"]) == set(final["loss"])
    again = search[search["config"].isin(chosen)]
    assert not set(reported["loss"]) & set(again["loss"])  # other seeds, other numbers
    on_disk = pd.read_csv(f"{frame.attrs['run_dir']}/results.csv")
    assert set(on_disk["phase"]) == {"search", "final"} and on_disk["trial"].is_unique


def test_a_tuned_run_stopped_in_its_final_phase_resumes_it(tmp_path):
    from seqbench.store import RunDir

    frame = seqbench.run("gru", "adding", [5], lr=[1e-3, 3e-2], seeds=2, tune=True, out=tmp_path, **TINY)
    rundir = RunDir.open(frame.attrs["run_dir"])
    rows = list(rundir.rows)
    rundir.replace_rows([r for r in rows if not (r["phase"] == "final" and int(r["seed"]) == 3)])  # one lost
    rundir.close()
    again = seqbench.run(resume=frame.attrs["run_dir"])
    assert list(again.query("phase == 'search'")["wall_s"]) == list(frame.query("phase == 'search'")["wall_s"])
    assert sorted(again.query("phase == 'final'")["seed"]) == [2, 3, 4]
    kept = frame.query("phase == 'final' and seed == 2")["wall_s"].iloc[0]
    assert again.query("phase == 'final' and seed == 2")["wall_s"].iloc[0] == kept  # not trained again


@pytest.mark.parametrize("search, fresh", [([0, 1], [2, 3, 4]), ([3, 4, 5], [6, 7, 8]), ([5, 6, 7, 8], [9, 10, 11, 12])])
def test_final_seeds_are_above_the_search_seeds_and_at_least_three(search, fresh):
    from seqbench.sweep.tune import final_seeds

    assert list(final_seeds(search)) == fresh


def _grid(best_lr, lrs=(1e-3, 3e-3, 1e-2), dropout=(0.0,)):
    rows = [dict(config=f"{lr}-{d}", seed=s, lr=lr, dropout=d, val_loss=abs(lr - best_lr) + d + 0.01 * s)
            for lr in lrs for d in dropout for s in range(2)]
    return _frame(rows)


def test_a_selection_on_the_edge_of_its_grid_is_marked_and_warned_about(capsys):
    from seqbench.sweep.tune import edges, warn_edges

    assert set(select(_grid(1e-2))["edge"]) == {"lr ↑"}
    assert set(select(_grid(1e-3))["edge"]) == {"lr ↓"}
    assert set(select(_grid(3e-3))["edge"]) == {""}  # inside the grid: converged
    (where, edge), = edges(_grid(1e-2))
    assert where == "lstm adding T=5" and edge.high and (edge.next_low, edge.next_high) == pytest.approx((1e-2, 1e-2 / 0.09))
    assert edges(_grid(3e-3, dropout=(0.0, 0.2))) == []  # dropout 0 is its floor, not an edge
    (_, low), = edges(_grid(1e-3, lrs=(1e-3, 1e-2)))
    assert not low.high and (low.next_low, low.next_high) == pytest.approx((1e-5, 1e-3))  # two steps of 10
    line = warn_edges(_grid(1e-2))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lr=0.01 is the highest value tried: try 0.01..0.111" in err and line in err
    assert warn_edges(_grid(3e-3)) is None and capsys.readouterr().err == ""


def test_the_tuned_table_marks_an_edge(tmp_path, capsys):
    args = ["run", "--cells", "gru", "--tasks", "adding", "--lengths", "5", "--lr", "1e-3,3e-2", "--tune",
            "--seeds", "2", "--out", str(tmp_path), "-q", *TINY_ARGS]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "(of 2) ⚠ lr" in out and "has not converged" in " ".join(out.split())
    assert "tuning has not converged" in err and "gru adding T=5: lr=" in err


def test_the_tuned_suite_gives_every_cell_the_same_number_of_configurations():
    from seqbench.spec.suite import load_suite

    _, configs = load_suite("tuned")
    counts = {(task, cell): len(config.configurations(cell, task))
              for config in configs for task in config.tasks for cell in config.cells}
    assert {cell for _, cell in counts} == {"rnn", "lstm", "gru", "transformer"}
    assert len(set(counts.values())) == 1, counts
    lrs = {task: set() for task, _ in counts}
    for config in configs:
        for task in config.tasks:
            for cell in config.cells:
                lrs[task] |= {c["lr"] for c in config.configurations(cell, task)}
    assert all(min(v) == 3e-4 and max(v) == 3e-2 for v in lrs.values())  # one range for every cell
    assert all(config.tune and config.steps for config in configs)  # step budgets, tuned


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_restores_the_best_validation_model(tmp_path):
    logged = []

    class Recorder:
        @seqbench.hookimpl
        def seqbench_trial_log(self, trial, step, metrics):
            if "eval_loss" in metrics:
                logged.append((step, metrics["eval_loss"]))

    from seqbench.plugins.registry import Registry

    registry = Registry()
    registry.pm.register(Recorder())
    # lr 0.3 makes the loss wander, so the best evaluation is rarely the last one
    frame = seqbench.run("gru", "adding", [6], registry=registry, out=tmp_path, lr=0.3, patience=3, steps=400,
                         eval_every=5, eval_examples=256, batch=64, hidden=16)
    row = frame.iloc[0]
    best_step, best = min(logged, key=lambda item: item[1])
    assert row["best_step"] == best_step
    assert row["val_loss"] == pytest.approx(best, rel=1e-6)  # the restored model scores the best evaluation
    assert row["stopped_early"] and row["steps"] < 400
    assert row["steps"] == logged[-1][0] and len([s for s, _ in logged if s > best_step]) == 3


def test_early_stopping_counts_evaluations_without_improvement():
    from seqbench.train.loop import EarlyStopping

    task = type("T", (), {"solved_metric": "accuracy", "solved_higher_is_better": True})()
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(task, patience=2)
    marks = []
    for step, acc in enumerate([0.2, 0.5, 0.4, 0.5, 0.45], 1):
        with torch.no_grad():
            model.weight.fill_(step)
        marks.append(stopper.update(step, {"accuracy": acc, "loss": 0.0}, model))
    assert marks == [False, False, False, True, True]
    assert stopper.restore(model) == 2 and model.weight.eq(2).all()


# --------------------------------------------------------------------------- validated before training


@pytest.mark.parametrize("args, names", [
    (["--cells", "gru,transformer", "--hidden", "32,30", "--cell-opt", "transformer.n_heads=4"],
     ["transformer", "hidden=30", "not divisible"]),
    (["--cells", "gru", "--tasks", "selective-copy", "--lengths", "64,8", "--task-opt", "selective-copy.n_tokens=16"],
     ["T=8", "n_tokens"]),
    (["--cells", "gru,lstm", "--params", "2k,300"], ["params=300", "300 parameters"]),
    (["--cells", "lstm", "--cell-opt", "lstm.init=uniform,chrono,bogus"], ["init=bogus", "init must be one of"]),
    (["--cells", "lstm", "--cell-opt", "lstm.forgetbias=1"], ["did you mean 'forget_bias'"]),
])
def test_every_configuration_is_checked_before_the_first_step(tmp_path, capsys, args, names):
    code = main(["run", *args, "--out", str(tmp_path / "out"), "-q", "--steps", "5"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for name in names:
        assert name in err
    assert not (tmp_path / "out").exists()  # no run directory: nothing started


def test_dry_run_shows_the_plan_and_trains_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEQBENCH_CACHE", str(tmp_path / "cache"))  # no step time known yet
    code = main(["run", "--cells", "gru,lstm", "--lengths", "5,10", "--lr", "1e-3,1e-2", "--seeds", "3",
                 "--dry-run", "--out", str(tmp_path / "out"), *TINY_ARGS])
    out = " ".join(capsys.readouterr().out.split())  # the caption may wrap
    assert code == 0 and not (tmp_path / "out").exists()
    assert "24 trials" in out and "8 configurations" in out and "4 distinct models timed" in out
    plan = seqbench.run(["gru", "lstm"], "adding", [5, 10], lr=[1e-3, 1e-2], seeds=3, dry_run=True, **TINY)
    assert len(plan) == 24 and (plan["est_s"] > 0).all() and plan.attrs["models"] == 4
    assert plan.attrs["estimate_s"] == pytest.approx(plan["est_s"].sum())


def test_the_run_announces_its_size_before_training(tmp_path, capsys):
    assert main(["run", "--cells", "gru", "--lengths", "5", "--lr", "1e-3,1e-2", "--out", str(tmp_path), "-q",
                 *TINY_ARGS]) == 0
    err = capsys.readouterr().err
    assert "2 trials" in err and "about" in err


def test_resume_of_a_sweep_skips_finished_configurations(tmp_path):
    frame = seqbench.run("gru", "adding", [5], lr=[1e-3, 1e-2], out=tmp_path, **TINY)
    again = seqbench.run(resume=frame.attrs["run_dir"])
    assert list(again["wall_s"]) == list(frame["wall_s"])  # nothing ran again


def test_a_second_dry_run_uses_the_step_time_cache_and_a_changed_config_misses_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBENCH_CACHE", str(tmp_path / "cache"))
    first = seqbench.run(["gru", "lstm"], "adding", [5], seeds=2, dry_run=True, **TINY)
    assert (first.attrs["timed"], first.attrs["cached"]) == (2, 0)
    assert (tmp_path / "cache" / "step_times.json").is_file()
    again = seqbench.run(["gru", "lstm"], "adding", [5], seeds=2, dry_run=True, **TINY)
    assert (again.attrs["timed"], again.attrs["cached"]) == (0, 2)
    assert again["step_s"].tolist() == first["step_s"].tolist()
    for changed in (dict(TINY, batch=8), dict(TINY, lr=0.01), dict(TINY, steps=13)):  # model, then config hash
        other = seqbench.run(["gru", "lstm"], "adding", [5], seeds=2, dry_run=True, **changed)
        assert (other.attrs["timed"], other.attrs["cached"]) == (2, 0), changed


def test_a_run_announces_after_its_first_trial_and_the_next_one_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBENCH_CACHE", str(tmp_path / "cache"))
    seen = []

    def announce(planned):
        rows = [p for p in (tmp_path / "out").glob("*/results.csv")]
        finished = len(pd.read_csv(rows[0])) if rows else 0
        seen.append((finished, planned.attrs["cached"], planned.attrs["guessed"], planned.attrs["estimate_s"]))

    for _ in range(2):
        seqbench.run(["gru", "lstm"], "adding", [5], seeds=2, out=tmp_path / "out", announce=announce, **TINY)
        for folder in (tmp_path / "out").iterdir():
            import shutil

            shutil.rmtree(folder)
    (after_first, cached, guessed, total), (before_any, cached_again, guessed_again, _) = seen
    assert (after_first, cached, guessed) == (1, 1, 1)  # the first trial measured one model, FLOPs scaled the other
    assert total > 0
    assert (before_any, cached_again, guessed_again) == (0, 2, 0)  # every trial recorded its step time
    assert seqbench.run(["gru", "lstm"], "adding", [5], seeds=2, dry_run=True, **TINY).attrs["timed"] == 0
