"""Figures and the HTML report of degenerate runs (1 seed, 2 seeds, all-zero and all-one
accuracies with constant columns, a diverged seed and a group left empty, a NaN metric): every
kind is drawn without a traceback and one stderr line names what was left out. Error bars span
exactly the table's interval; a loss spanning more than two decades gets a log axis. The run
folders are written through the store API (no training), so this file runs in seconds."""
from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

from seqbench.reporting import plots
from seqbench.cli import main
from seqbench.studies.generalization import GENERALIZATION_CSV
from seqbench.reporting.run_report import load_report
from seqbench.store import CURVES_CSV, RunDir

CELLS = ("lstm", "gru")
LENGTHS = (20, 40)
TASKS = {"copy": {"metric": "accuracy", "metric_higher_is_better": True, "baseline": 0.52},
         "adding": {"metric": "loss", "metric_higher_is_better": False, "baseline": 0.167}}


def normal(cell: str, task: str, length: int, seed: int) -> dict:
    """A plausible short run: accuracies near 0.1 (lstm at T=40: 0, as in issue 22), losses near the baseline."""
    step = (CELLS.index(cell) + 1) * 0.01 + seed * 0.007
    accuracy = 0.0 if (cell, length) == ("lstm", 40) else 0.1 + step
    return {"loss": 0.16 + step, "accuracy": accuracy if task == "copy" else math.nan,
            "train_tok_s": 9000.0 + 500 * seed + 1000 * CELLS.index(cell)}


def all_zero(cell: str, task: str, length: int, seed: int) -> dict:
    # 3 equal values: their float mean lies an ulp off them, which made min–max bars negative
    return {"loss": 0.1, "accuracy": 0.0 if task == "copy" else math.nan, "train_tok_s": 5000.0}


def all_one(cell: str, task: str, length: int, seed: int) -> dict:
    return {**normal(cell, task, length, seed), "accuracy": 1.0 if task == "copy" else math.nan}


def diverged(cell: str, task: str, length: int, seed: int) -> dict:
    row = normal(cell, task, length, seed)
    if (cell == "lstm" and seed == 1) or (task, length) == ("adding", 40):  # adding at T=40: every seed
        row.update(status="diverged", loss=math.inf, accuracy=math.nan)
    return row


def nan_metric(cell: str, task: str, length: int, seed: int) -> dict:
    row = normal(cell, task, length, seed)
    if (cell, task, length, seed) == ("gru", "copy", 20, 0):
        row["accuracy"] = math.nan
    return row


def make_run(root, name: str, seeds: int, values, tasks=("copy",)) -> str:
    """A run folder (config.json, results.csv, curves.csv, generalization.csv) of ``tasks`` whose
    values come from ``values(cell, task, length, seed)``."""
    run = RunDir.create(root, name)
    run.write_json("config.json", {
        "configs": [{"cells": list(CELLS), "hidden": 8, "steps": 20}],
        "tasks": {f"{t}|{T}": {**TASKS[t], "seq_len": T} for t in tasks for T in LENGTHS},
        "metrics": {"loss": False, "accuracy": True}})
    for task in tasks:
        for length in LENGTHS:
            for seed in range(seeds):
                for cell in CELLS:
                    v = {"status": "ok", **values(cell, task, length, seed)}
                    trial = f"{cell}|{task}|{length}|{seed}"
                    key = {"trial": trial, "cell": cell, "task": task, "length": length, "seed": seed,
                           "config": "", "config_label": "", "params": 1000}
                    run.append({**key, "hidden": 8, "loss": v["loss"], "accuracy": v["accuracy"],
                                "baseline": TASKS[task]["baseline"], "solved": False,
                                "train_tok_s": v["train_tok_s"], "train_s": 1.0, "steps": 20, "status": v["status"]})
                    for step in (10, 20):
                        last = v["loss"] if step == 20 else 0.3
                        run.append({**key, "step": step, "train_s": step / 20, "loss": 0.3}, CURVES_CSV)
                        run.append({**key, "step": step, "train_s": step / 20, "val_loss": last}, CURVES_CSV)
                    if v["status"] == "ok" and (task, length) == ("copy", 20):
                        for eval_length in (20, 40):
                            run.append({**key, "eval_length": eval_length, "ratio": eval_length / 20,
                                        "loss": v["loss"], "accuracy": v["accuracy"], "baseline": 0.52,
                                        "solved": False, "status": "ok"}, GENERALIZATION_CSV)
    run.close()
    return str(run.path)


COPY = {"curves-copy-T20", "curves-copy-T40", "length-copy", "pareto-copy-T20", "pareto-copy-T40",
        "generalization-copy-T20"}
ADDING = {"curves-adding-T20", "curves-adding-T40", "length-adding", "pareto-adding-T20", "pareto-adding-T40"}
CASES = {  # name: (seeds, values, tasks, figures drawn, phrases of the left-out line; none: no such line)
    "1 seed": (1, normal, ("copy",), COPY, []),
    "2 seeds": (2, normal, ("copy",), COPY, []),
    "all-zero accuracy, constant columns": (3, all_zero, ("copy",), COPY, []),
    "all-one accuracy": (2, all_one, ("copy",), COPY, []),
    "diverged seed, an empty group": (
        2, diverged, ("copy", "adding"), COPY | ADDING - {"length-adding", "pareto-adding-T40"},
        ["lstm copy T=20: 1 diverged (of 2 seeds)", "gru adding T=40: 2 diverged (of 2 seeds)",
         "length-adding (fewer than two lengths", "pareto-adding-T40 (no seed of adding at T=40",
         "lstm adding T=40: 2 evaluations with a NaN/inf validation loss"]),
    "NaN metric": (2, nan_metric, ("copy",), COPY, ["gru copy T=20: 1 without a finite accuracy (of 2 seeds)"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_figure_and_the_html_report(case, tmp_path, capsys):
    seeds, values, tasks, expected, phrases = CASES[case]
    run = make_run(tmp_path, "run", seeds, values, tasks)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a matplotlib warning would be noise on the user's stderr
        assert main(["plot", run, "--kind", "all", "-o", str(tmp_path / "plots"), "--format", "svg"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert {p.stem for p in (tmp_path / "plots").iterdir()} == expected
    assert all(p.stat().st_size > 1000 for p in (tmp_path / "plots").iterdir())
    lines = [line for line in err.splitlines() if "left out" in line]
    if phrases:
        assert len(lines) == 1 and lines[0].startswith("seqbench: left out of the figures: ")
        for phrase in phrases:
            assert phrase in lines[0]
    else:
        assert not lines
    assert main(["report", run, "--format", "html", "-o", str(tmp_path / "r.html")]) == 0
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert text.count("<svg") == len(expected)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in text and phrase in err


def bars(ax, cell):
    """The error-bar container of ``cell``: its (x, low, high) per bar, and its plotted points."""
    (container,) = [c for c in ax.containers if c.get_label() == cell]
    segments = container.lines[2][0].get_segments()
    return [(s[0][0], min(s[0][1], s[1][1]), max(s[0][1], s[1][1])) for s in segments], container.lines[0]


def test_error_bars_span_the_tables_interval(tmp_path):
    run = make_run(tmp_path, "run", 3, normal)  # issue 24: 3 seeds (below 3 there is no interval to draw)
    summary = load_report(run).summary().set_index(["task", "length", "cell"])
    (ax,) = plots.figures(run, "length")["length-copy"].axes
    for cell in CELLS:
        drawn, _ = bars(ax, cell)
        assert [x for x, _, _ in drawn] == list(LENGTHS)
        for x, low, high in drawn:
            row = summary.loc[("copy", x, cell)]
            assert (low, high) == pytest.approx((row["accuracy_lo"], row["accuracy_hi"]), abs=1e-12)
    assert summary.loc[("copy", 40, "lstm")][["accuracy_lo", "accuracy_hi"]].tolist() == [0.0, 0.0]  # issue 22


def test_the_mean_is_drawn_inside_its_interval():
    # nine seeds near 0 and one near 1: the old logit-scale interval (0.004, 0.085) missed the mean 0.099,
    # and the bar was drawn at its bound; issue 24: the interval is centred on logit(mean) and holds it
    rows = [{"cell": "lstm", "task": "copy", "length": T, "seed": s, "status": "ok",
             "accuracy": 0.9 if s == 9 else 0.01} for T in LENGTHS for s in range(10)]
    notes: list[str] = []
    (ax,) = plots.metric_vs_length(pd.DataFrame(rows), "copy", "accuracy", True, left_out=notes).axes
    drawn, line = bars(ax, "lstm")
    from seqbench.stats import interval95

    low, high = interval95([0.01] * 9 + [0.9], "accuracy")
    assert 0 < low < 0.099 < high < 1
    assert all((lo, hi) == pytest.approx((low, high)) for _, lo, hi in drawn)
    assert list(line.get_ydata()) == pytest.approx([0.099, 0.099])
    assert notes == []
    # an interval that misses its point (a caller's own) is still drawn at the bound and said
    drawn, _, moved = plots._bars([0.5], [0.6], [0.7])
    assert drawn == [0.6] and moved == [0]


def test_loss_axes_go_logarithmic_past_two_decades(tmp_path):
    def spread(cell, task, length, seed):  # lstm solves adding (loss 1e-4), gru stays at the baseline
        return {**normal(cell, task, length, seed), "loss": 1e-4 if cell == "lstm" else 0.17}

    wide = plots.figures(make_run(tmp_path, "wide", 2, spread, ("copy", "adding")))
    narrow = plots.figures(make_run(tmp_path, "narrow", 2, normal, ("adding",)))
    for name in ("length-adding", "pareto-adding-T20", "curves-adding-T20"):
        assert {ax.get_yscale() for ax in wide[name].axes} == {"log"}, name
        assert {ax.get_yscale() for ax in narrow[name].axes} == {"linear"}, name
    assert wide["length-copy"].axes[0].get_yscale() == "linear"  # accuracy: never
    assert plots.log_if_wide(wide["length-copy"].axes[0], [0.0, 1e-4, 1.0]) is False  # a zero loss stays linear


def test_speed_and_horizon_figures_of_degenerate_rows():
    nan = math.nan
    speed = pd.DataFrame([{"cell": cell, "length": T, "status": "ok" if (cell, T) != ("gru", 8) else "error: OOM",
                           "train_tok_s": 1e4 / T, "infer_tok_s": nan if cell == "gru" else 3e4 / T,
                           "train_pct_peak": 1.0, "infer_pct_peak": nan, "gen_ms_per_tok": 0.5,
                           "batch": 2, "dtype": "float32", "device": "cpu"} for cell in CELLS for T in (4, 8)])
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tok, _, _ = plots.speed_scaling(speed, None, left_out=notes).axes
    assert len(tok.get_lines()) == 4 and notes == ["gru T=8: 1 error: OOM (of 1 row)"]
    with pytest.raises(Exception, match="no speed measurement finished ok"):
        plots.speed_scaling(speed.assign(status="error"), None)
    # a horizon search: one seed per length, a diverged (unsolved) seed; Wilson bars hold each rate
    horizon = pd.DataFrame([{"cell": cell, "task": "adding", "length": T, "seed": 0, "solved": T == 8 and cell == "lstm",
                             "status": "diverged" if (cell, T) == ("gru", 16) else "ok"}
                            for cell in CELLS for T in (8, 16)])
    (ax,) = plots.solved_vs_length(horizon, {"lstm": 8, "gru": None}, "adding", 1).axes
    drawn, line = bars(ax, "lstm: horizon 8")
    assert list(line.get_ydata()) == [1.0, 0.0] and all(lo == hi for _, lo, hi in drawn)
    # a censored horizon (the longest length probed was solved) says so in its legend entry
    (ax,) = plots.solved_vs_length(horizon, {"lstm": 16, "gru": None}, "adding", 1, bounds={"lstm": "≥"}).axes
    assert "lstm: horizon ≥ 16" in [t.get_text() for t in ax.get_legend().get_texts()]
