"""curves.csv: written by the built-in curves plugin as training goes, one line per log event,
the header once (also when a run is resumed), the last attempt of a re-run trial kept."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

import seqbench
from seqbench.curves import COLUMNS, load_curves

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
