"""Length generalization (run --eval-lengths): the trained model evaluated at other lengths on
the test set, without training further; tasks that cannot change length say so in one line;
the classic suite's published numbers beside the measured ones."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import seqbench
from seqbench.cli import main
from seqbench.errors import UsageError
from seqbench.spec.eval_lengths import absolute_lengths, parse_eval_lengths
from seqbench.reporting.generalization_tables import tables
from seqbench.studies.generalization import GENERALIZATION_CSV

from conftest import TINY


def test_eval_lengths_parse():
    assert parse_eval_lengths("2x, 4X,1000") == ["2x", "4x", 1000]
    assert parse_eval_lengths(["1.5x", 30, "30"]) == ["1.5x", 30]
    assert absolute_lengths(["2x", "1.5x", 10, 30], 10) == [20, 15, 30]  # the trained length itself dropped
    for bad in ("2y", "0x", "-3", "x"):
        with pytest.raises(UsageError, match="eval length"):
            parse_eval_lengths(bad)


def test_models_are_evaluated_at_other_lengths(tmp_path):
    frame = seqbench.run(["gru", "transformer"], "adding", [6], eval_lengths="2x,20", out=tmp_path, **TINY)
    run_dir = Path(frame.attrs["run_dir"])
    rows = pd.read_csv(run_dir / GENERALIZATION_CSV)
    assert len(rows) == 2 * 3 and set(rows["status"]) == {"ok"}
    assert sorted(set(rows["eval_length"])) == [6, 12, 20] and set(rows["length"]) == {6}
    trained = rows[rows["eval_length"] == 6].set_index("trial")["loss"]
    assert trained.to_dict() == frame.set_index("trial")["loss"].to_dict()  # the same model, the same test set
    longer = rows[rows["eval_length"] == 20].set_index("trial")["loss"]
    assert (longer != trained).all()  # other data: another length was really evaluated
    assert (frame["steps"] == TINY["steps"]).all()  # no further training
    [table] = tables(rows, {"adding|6": {"metric": "loss", "solved": "loss < 0.01"}})
    assert table.headers[:4] == ["cell", "1× loss ↓", "2× loss ↓", "3.33× loss ↓"]
    assert [r[0] for r in table.rows] == ["gru", "transformer", "(baseline)"]


def test_resume_evaluates_finished_trials_without_rows(tmp_path):
    frame = seqbench.run("lstm", "copy", [4], eval_lengths="2x", out=tmp_path, **TINY)
    run_dir = Path(frame.attrs["run_dir"])
    path = run_dir / GENERALIZATION_CSV
    before = pd.read_csv(path)
    path.unlink()  # as if interrupted before the evaluation
    seqbench.run(resume=run_dir)
    rows = pd.read_csv(path)
    assert sorted(rows["eval_length"]) == [4, 8] and set(rows["status"]) == {"ok"}
    assert rows["loss"].tolist() == before["loss"].tolist()  # the saved model, the same test sets
    # interrupted between the two lengths: only the missing one is evaluated, nothing twice
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]))
    seqbench.run(resume=run_dir)
    assert pd.read_csv(path)[["eval_length", "loss"]].values.tolist() == before[["eval_length", "loss"]].values.tolist()


def test_a_task_that_cannot_change_length_says_so(tmp_path, capsys):
    with pytest.raises(UsageError, match="task 'fixed-length' cannot be evaluated at other lengths"):
        seqbench.run("rnn", "fixed-length", [5], eval_lengths="2x", plugins=["fixtures.threshold_task"],
                     out=tmp_path, **TINY)
    code = main(["run", "-p", "fixtures.threshold_task", "--cells", "rnn", "--tasks", "fixed-length", "--lengths", "5",
                 "--eval-lengths", "2x", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot be evaluated at other lengths" in err
    with pytest.raises(UsageError, match="markov"):  # defined at other lengths, but not at this one (lag 16)
        seqbench.run("rnn", "markov", [40], eval_lengths="10", out=tmp_path, **TINY)
    assert not any(tmp_path.iterdir())


def test_classic_suite_prints_published_beside_measured():
    from seqbench.spec.suite import suite_reference
    from seqbench.reporting.published_tables import tables as published_tables
    from seqbench.spec.suite import load_suite

    _, parts = load_suite("classic")
    assert [(c.tasks, c.lengths, c.params) for c in parts] == [(["adding"], [600], 70000), (["copy"], [1000], 16000)]
    reference = suite_reference("classic")
    assert "Table 1" in reference["source"]
    results = pd.DataFrame({"task": ["adding"] * 2, "length": [600] * 2, "cell": ["lstm", "lstm"], "seed": [0, 1],
                            "params": [70100, 70100], "loss": [0.1, 0.2], "status": ["ok", "ok"]})
    [table] = published_tables(results, reference)  # copy was not measured: no table
    assert table.rows[0][:5] == ["lstm", "70,100", "0.15 ± 0.071", "0.164", "0.915"]
    assert ["gru (published only)", "", "", "5.3e-05", "", ""] in table.rows
    assert table.rows[-1][:3] == ["(baseline)", "", "0.167"] and "0.1767" in table.caption
