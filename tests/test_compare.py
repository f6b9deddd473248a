"""seqbench compare: matching (cell × task × length × the options a run varies), the options
that differ between runs, verdicts (Welch over seeds, IQR bands for timings), unmatched rows,
nothing comparable (exit 2), --fail-on-regression, formats, bad input."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import seqbench
from seqbench.cli import main
from seqbench.reporting.compare_tables import export, regressions, tables
from seqbench.studies.comparison import compare
from seqbench.errors import UsageError


TASKS = {"adding|8": {"metric": "loss", "metric_higher_is_better": False}}


def make_run(path, losses, tok_s=1000.0, iqr=0.02, extra_cell=False, config=None):
    """A run directory with one row per seed of rnn on adding T=8 (and gru when extra_cell)."""
    path.mkdir(parents=True)
    rows = []
    for cell in ["rnn"] + (["gru"] if extra_cell else []):
        for seed, loss in enumerate(losses):
            row = {"trial": f"{cell}|adding|8|{seed}", "cell": cell, "task": "adding", "length": 8, "seed": seed,
                   "loss": loss, "solved": False, "train_tok_s": tok_s * (1 + 0.001 * seed), "train_iqr": iqr,
                   "infer_tok_s": 5000.0, "infer_iqr": iqr, "status": "ok"}
            if config:
                row["config"] = config
            rows.append(row)
    pd.DataFrame(rows).to_csv(path / "results.csv", index=False)
    (path / "config.json").write_text(json.dumps({"tasks": TASKS, "metrics": {"loss": False}}))
    return str(path)


@pytest.fixture()
def runs(tmp_path):
    return {
        "base": make_run(tmp_path / "base", [0.10, 0.11, 0.09, 0.10]),
        "worse": make_run(tmp_path / "worse", [0.20, 0.21, 0.19, 0.20], tok_s=500.0, extra_cell=True),
        "same": make_run(tmp_path / "same", [0.11, 0.09, 0.10, 0.105], tok_s=1010.0),
        "better": make_run(tmp_path / "better", [0.05, 0.051, 0.049, 0.05], tok_s=2000.0),
    }


def row(frame, metric):
    return frame[(frame["cell"] == "rnn") & (frame["metric"] == metric)].iloc[0]


def test_verdicts_ratios_and_unmatched(runs):
    frame = seqbench.compare([runs["base"], runs["worse"], runs["same"], runs["better"]])
    assert frame.attrs["runs"] == ["base", "worse", "same", "better"]
    loss = row(frame, "loss")
    assert loss["verdict_worse"] == "worse" and loss["p_worse"] < 0.001
    assert loss["ratio_worse"] == pytest.approx(2.0)
    assert loss["verdict_same"] == "not distinguishable" and loss["p_same"] > 0.05
    assert loss["verdict_better"] == "better" and bool(loss["primary"])
    tok = row(frame, "train_tok_s")
    # issue 24: one metric per task is tested; a training run's throughput is shown, not tested
    assert tok["kind"] == "timing" and not tok["primary"]
    assert {tok["verdict_worse"], tok["verdict_same"], tok["verdict_better"]} == {""}
    assert tok["status_worse"] == "bands apart" and tok["status_better"] == "bands apart"
    assert tok["status_same"] == "bands overlap"  # 1 % apart, inside ± 1 % bands
    assert tok["ratio_worse"] == pytest.approx(0.5)
    # gru ran only in "worse": listed, not compared
    assert set(frame["cell"]) == {"rnn"}
    assert frame.attrs["unmatched"] == [("worse", {"cell": "gru", "task": "adding", "length": 8})]


def test_timings_without_an_iqr_are_not_distinguished(tmp_path):
    a = make_run(tmp_path / "a", [0.1, 0.1], tok_s=1000.0, iqr=float("nan"))
    b = make_run(tmp_path / "b", [0.1, 0.1], tok_s=100.0, iqr=float("nan"))
    tok = row(compare([a, b]), "train_tok_s")
    assert tok["status_b"] == "no bands" and tok["verdict_b"] == ""  # issue 24: shown, not tested


def test_config_column_joins_the_key_only_when_options_do_not_tell_configurations_apart(tmp_path):
    # one configuration per run: a different hash is a different option, compared, not a different row
    a = make_run(tmp_path / "a", [0.1, 0.12], config="aaaa1111")
    b = make_run(tmp_path / "b", [0.1, 0.12], config="bbbb2222")
    assert "config" not in compare([a, b]).attrs["keys"] and not compare([a, b]).empty
    # two configurations within a run and no option column that tells them apart: the hash does
    c = make_run(tmp_path / "c", [0.1, 0.12], config="aaaa1111")
    results = pd.read_csv(tmp_path / "c" / "results.csv")
    other = results.assign(config="cccc3333", loss=0.5, trial=results["trial"] + "|cccc3333")
    pd.concat([results, other]).to_csv(tmp_path / "c" / "results.csv", index=False)
    frame = compare([a, c])
    assert "config" in frame.attrs["keys"] and set(frame["config"]) == {"aaaa1111"}
    assert frame.attrs["unmatched"] == [("c", {"cell": "rnn", "task": "adding", "length": 8, "config": "cccc3333"})]


def spec_run(path, loss, **options):
    """A run directory as ``seqbench run`` writes it: config.json and one results.csv row per
    TrialSpec of ``RunConfig(**options)`` (their real config hashes and labels); ``loss(spec)``."""
    from types import SimpleNamespace

    from seqbench.spec.config import RunConfig
    from seqbench.execute.local import empty_row

    config = RunConfig(**{"cells": ["rnn", "gru"], "tasks": ["adding"], "lengths": [8], "seeds": 4, "steps": 40,
                          **options})
    rows = []
    for spec in config.trials():
        row = empty_row(spec, SimpleNamespace(metrics={"loss": False}))
        row.update(loss=loss(spec), val_loss=loss(spec), train_tok_s=1000.0 + spec.seed, train_iqr=0.02,
                   steps=spec.steps)
        rows.append(row)
    path.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(path / "results.csv", index=False)
    tasks = {f"{t}|{n}": {"metric": "loss", "metric_higher_is_better": False} for t in config.tasks
             for n in config.lengths}
    (path / "config.json").write_text(json.dumps({"configs": [config.to_dict()], "tasks": tasks,
                                                  "metrics": {"loss": False}}))
    return str(path)


def good(spec):
    return 0.10 + 0.01 * (spec.seed % 2) + spec.lr


def bad(spec):
    return 0.50 + 0.01 * (spec.seed % 2)


def test_runs_that_differ_in_an_option_are_compared_row_by_row(tmp_path, capsys):
    a = spec_run(tmp_path / "A", good, lr=3e-3, steps=40)
    b = spec_run(tmp_path / "B", bad, lr=1e-6, steps=2)
    frame = compare([a, b])
    assert frame.attrs["keys"] == ["cell", "task", "length"] and frame.attrs["unmatched"] == []
    loss = frame[frame["metric"] == "loss"].set_index("cell")
    assert set(loss.index) == {"rnn", "gru"} and set(loss["verdict_B"]) == {"worse"}
    assert (loss["A_n"] == 4).all() and (loss["B_n"] == 4).all()
    assert frame.attrs["differences"] == {"B": [["steps", "40", "2"], ["lr", "0.003", "1e-06"]]}
    assert "A vs B differ in: steps 40 → 2, lr 0.003 → 1e-06" in tables(frame)[0].caption
    assert "A vs B differ in:" in export(frame, "markdown")
    assert main(["compare", a, b, "--fail-on-regression", "5"]) == 1
    captured = capsys.readouterr()
    assert "lr 0.003 → 1e-06" in " ".join(captured.out.split()) and "worse" in captured.out
    assert "regression: cell=gru task=adding length=8 loss" in captured.err
    assert main(["compare", a, spec_run(tmp_path / "A2", good, lr=3e-3, steps=40), "--fail-on-regression", "5"]) == 0
    assert "A vs A2: same options" in " ".join(capsys.readouterr().out.split())


def test_unrelated_runs_compare_nothing_and_exit_2(tmp_path, capsys):
    a = spec_run(tmp_path / "A", good)
    b = spec_run(tmp_path / "B", good, tasks=["copy"], lengths=[16])
    with pytest.raises(UsageError, match="nothing to compare: no cell × task × length is in every run"):
        compare([a, b])
    for extra in ([], ["--fail-on-regression", "5"]):
        assert main(["compare", a, b, *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "nothing to compare" in err


def test_a_gate_that_compared_no_primary_metric_fails(tmp_path, capsys):
    a = spec_run(tmp_path / "A", good)
    b = make_run(tmp_path / "B", [0.5, 0.5], tok_s=float("nan"))
    results = pd.read_csv(tmp_path / "B" / "results.csv").assign(loss=float("nan"), infer_tok_s=float("nan"))
    results.to_csv(tmp_path / "B" / "results.csv", index=False)
    frame = compare([a, b])  # only "solved" is in both: shown, but nothing a gate can pass on
    assert set(frame["metric"]) == {"solved"} and not frame["primary"].any()
    with pytest.raises(UsageError, match="nothing to check for regressions"):
        regressions(frame, 5)
    assert main(["compare", a, b]) == 0
    capsys.readouterr()
    assert main(["compare", a, b, "--fail-on-regression", "5"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    # a matched row with no metric in both runs at all: nothing compared
    results.assign(solved=float("nan")).to_csv(tmp_path / "B" / "results.csv", index=False)
    with pytest.raises(UsageError, match="share no metric"):
        compare([a, b])


def test_sweeps_are_matched_on_the_axes_they_vary(tmp_path):
    a = spec_run(tmp_path / "A", good, lr=[1e-3, 1e-2], steps=40)
    b = spec_run(tmp_path / "B", bad, lr=[1e-3, 1e-2], steps=2)
    frame = compare([a, b])
    assert frame.attrs["keys"] == ["cell", "task", "length", "lr"] and frame.attrs["options"] == ["lr"]
    loss = frame[frame["metric"] == "loss"]
    assert sorted(zip(loss["cell"], loss["lr"])) == [("gru", "0.001"), ("gru", "0.01"), ("rnn", "0.001"),
                                                     ("rnn", "0.01")]
    assert (loss["A_n"] == 4).all()  # each lr's own seeds, not the two pooled
    assert loss.set_index(["cell", "lr"]).loc[("rnn", "0.01"), "A"] == pytest.approx(0.115)
    assert frame.attrs["differences"] == {"B": [["steps", "40", "2"]]}
    assert "lr" in tables(frame)[0].headers
    # a single lr against the sweep: matched where the values agree, the other lr listed apart
    c = spec_run(tmp_path / "C", bad, lr=1e-2, steps=40)
    frame = compare([a, c])
    assert set(frame["lr"]) == {"0.01"}
    assert {(label, key["cell"], key["lr"]) for label, key in frame.attrs["unmatched"]} == {
        ("A", "rnn", "0.001"), ("A", "gru", "0.001")}
    assert frame.attrs["differences"] == {"C": [["lr", "[0.001, 0.01]", "0.01"]]}


def test_regressions_respect_the_threshold(runs):
    frame = compare([runs["base"], runs["worse"]])
    found = regressions(frame, 10)
    assert any("loss" in line and "100.0% worse" in line for line in found)
    assert not any("train_tok_s" in line for line in found)  # issue 24: a run's throughput is not tested
    assert regressions(frame, 150) == []  # loss 2×, tok/s ½: neither is 150 % worse
    assert regressions(compare([runs["base"], runs["better"]]), 0) == []


def test_cli_exit_codes_and_formats(runs, tmp_path, capsys):
    assert main(["compare", runs["base"], runs["worse"], "--fail-on-regression", "10"]) == 1
    assert "regression" in capsys.readouterr().err
    assert main(["compare", runs["base"], runs["same"], "--fail-on-regression", "10"]) == 0
    out = capsys.readouterr().out
    assert "not distinguishable" in out and "compare · adding · T=8" in out
    assert main(["compare", runs["base"], runs["worse"], "--format", "json", "-o", str(tmp_path / "c.json")]) == 0
    records = json.loads((tmp_path / "c.json").read_text())
    assert {r["metric"] for r in records} >= {"loss", "train_tok_s"}
    assert main(["compare", runs["base"], runs["worse"], "--format", "markdown"]) == 0
    assert "| rnn | loss ↓ |" in capsys.readouterr().out
    for bad in ([runs["base"]], [runs["base"], str(tmp_path / "nope")],
                [runs["base"], runs["worse"], "--fail-on-regression", "ten"]):
        assert main(["compare", *bad]) == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_speed_runs_compare_by_cell_and_length(speed_run):
    frame = compare([speed_run, speed_run])
    assert frame.attrs["kind"] == "speed" and set(frame["metric"]) == {"train_tok_s", "infer_tok_s", "gen_ms_per_tok"}
    assert set(frame["verdict_speed#2"]) == {"not distinguishable"}  # a run against itself
    assert frame.attrs["differences"] == {"speed#2": []} and frame.attrs["options"] == []

