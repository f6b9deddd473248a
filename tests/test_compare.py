"""seqbench compare: matching (cell × task × length × config), verdicts (Welch over seeds,
IQR bands for timings), unmatched rows, --fail-on-regression, formats, bad input."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import seqbench
from seqbench.cli import main
from seqbench.reporting.compare_tables import regressions
from seqbench.studies.comparison import compare


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
    assert tok["kind"] == "timing" and tok["verdict_worse"] == "worse" and tok["verdict_better"] == "better"
    assert tok["verdict_same"] == "not distinguishable"  # 1 % apart, inside ± 1 % bands
    # gru ran only in "worse": listed, not compared
    assert set(frame["cell"]) == {"rnn"}
    assert frame.attrs["unmatched"] == [("worse", {"cell": "gru", "task": "adding", "length": 8})]


def test_timings_without_an_iqr_are_not_distinguished(tmp_path):
    a = make_run(tmp_path / "a", [0.1, 0.1], tok_s=1000.0, iqr=float("nan"))
    b = make_run(tmp_path / "b", [0.1, 0.1], tok_s=100.0, iqr=float("nan"))
    assert row(compare([a, b]), "train_tok_s")["verdict_b"] == "not distinguishable"


def test_config_column_joins_the_key(tmp_path):
    a = make_run(tmp_path / "a", [0.1, 0.12], config="aaaa1111")
    b = make_run(tmp_path / "b", [0.1, 0.12], config="bbbb2222")
    c = make_run(tmp_path / "c", [0.1, 0.12], config="aaaa1111")
    assert compare([a, b]).empty and len(compare([a, b]).attrs["unmatched"]) == 2
    assert "config" in compare([a, c]).attrs["keys"] and not compare([a, c]).empty


def test_regressions_respect_the_threshold(runs):
    frame = compare([runs["base"], runs["worse"]])
    found = regressions(frame, 10)
    assert any("loss" in line and "100.0% worse" in line for line in found)
    assert any("train_tok_s" in line for line in found)
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

