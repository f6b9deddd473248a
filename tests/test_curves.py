"""curves.csv: written by the built-in curves plugin as training goes, one line per log event,
the header once (also when a run is resumed), the last attempt of a re-run trial kept."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

import seqbench
from seqbench.train.curves import COLUMNS, load_curves

from pictures_fixtures import SMALL



def test_every_trial_has_training_and_validation_lines(small_run):
    path = Path(small_run) / "curves.csv"
    text = path.read_text()
    assert text.splitlines()[0] == ",".join(COLUMNS) and text.count("trial,cell") == 1
    curves = load_curves(small_run)
    assert curves["trial"].nunique() == 8  # 2 cells × 2 lengths × 2 seeds
    one = curves[curves["trial"] == "gru|adding|16|1"]
    train, val = one[one["loss"].notna()], one[one["val_loss"].notna()]
    assert train["step"].tolist() == [20, 40] and val["step"].tolist() == [20, 40]  # eval_every=20
    assert (train["tok_s"] > 0).all() and val["tok_s"].isna().all()
    assert (one["tokens"] == one["step"] * SMALL["batch"] * 16).all()  # steps × batch × T
    assert one["train_s"].is_monotonic_increasing and (one["train_s"] > 0).all()


def test_resume_appends_without_a_second_header(small_run):
    before = (Path(small_run) / "curves.csv").read_text()
    seqbench.run(resume=small_run)  # every trial finished: nothing runs
    after = (Path(small_run) / "curves.csv").read_text()
    assert after == before


def test_a_rerun_trial_keeps_its_last_attempt(tmp_path):
    rows = [dict(trial="a", step=s, loss=l) for s, l in ((20, 1.0), (40, 0.9), (20, 0.5), (40, 0.4))]
    rows += [dict(trial="b", step=20, loss=2.0)]
    pd.DataFrame(rows).to_csv(tmp_path / "curves.csv", index=False)
    curves = load_curves(tmp_path)
    assert curves[curves["trial"] == "a"]["loss"].tolist() == [0.5, 0.4] and len(curves) == 3


def test_an_attempt_killed_after_its_first_log_step_is_dropped(tmp_path):
    """A trial killed after logging step 20 (a training and an evaluation line) and run again: the
    new attempt starts at the same step, and only it is kept."""
    rows = [dict(trial="a", step=20, loss=1.0), dict(trial="a", step=20, val_loss=0.9),  # killed here
            dict(trial="a", step=20, loss=0.7), dict(trial="a", step=20, val_loss=0.6),
            dict(trial="a", step=40, loss=0.5), dict(trial="a", step=40, val_loss=0.4)]
    pd.DataFrame(rows).to_csv(tmp_path / "curves.csv", index=False)
    curves = load_curves(tmp_path)
    assert curves["loss"].dropna().tolist() == [0.7, 0.5] and curves["val_loss"].dropna().tolist() == [0.6, 0.4]


def test_a_torn_last_line_is_cut_before_the_next_run_appends(tmp_path):
    from seqbench.train.curves import CurveWriter

    (tmp_path / "curves.csv").write_text(",".join(COLUMNS) + "\na,rnn,adding,5,0,20,1,0.1,0.5\na,rnn,add")
    CurveWriter(str(tmp_path)).close()  # a resumed run opens it again
    assert (tmp_path / "curves.csv").read_text().endswith("0.1,0.5\n")
    assert len(load_curves(tmp_path)) == 1
