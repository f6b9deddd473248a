"""Statistics over seeds, ranks with ties, parameter-budget matching."""
from __future__ import annotations

import math
import statistics

import pandas as pd
import pytest

import seqbench
from seqbench.models.budget import match_hidden
from seqbench.spec.sizes import parse_params
from seqbench.errors import UsageError
from seqbench.plugins.registry import Registry
from seqbench.reporting.run_tables import summarize, to_markdown
from seqbench.stats import mean_std_ci, ranks_with_ties, t95
from seqbench.tasks.adding import AddingTask
from seqbench.tasks.copy_memory import CopyTask

from conftest import TINY


def test_t_critical_values():
    # reference values of the two-sided 95 % Student's t quantile
    for df, expected in ((1, 12.706), (2, 4.303), (4, 2.776), (11, 2.201), (19, 2.093), (50, 2.009), (1000, 1.962)):
        assert t95(df) == pytest.approx(expected, abs=2e-3)
    assert all(t95(d) > t95(d + 1) for d in range(1, 200))


def test_mean_std_ci():
    values = [1.0, 2.0, 4.0, 7.0]
    mean, std, hw = mean_std_ci(values)
    assert mean == 3.5 and std == pytest.approx(statistics.stdev(values))
    assert hw == pytest.approx(3.182 * std / 2, rel=2e-4)  # t quantile from scipy, table value rounded
    assert math.isnan(mean_std_ci([5.0])[1]) and math.isnan(mean_std_ci([])[0])
    assert mean_std_ci([1.0, float("nan"), 3.0])[0] == 2.0


def test_ranks_mark_ties_the_intervals_do_not_separate():
    means, hws = [0.5, 0.1, 0.12, 0.9], [0.01, 0.01, 0.015, 0.05]
    assert ranks_with_ties(means, hws, higher_is_better=False) == ["3", "1", "2 ≈", "4"]
    assert ranks_with_ties(means, hws, higher_is_better=True) == ["2", "4 ≈", "3", "1"]
    assert ranks_with_ties([0.1, 0.2], [math.nan, math.nan], False) == ["1", "2"]


def _rows(cell, losses, solved):
    return [dict(trial=f"{cell}|t|5|{i}", cell=cell, task="t", length=5, seed=i, params=100, loss=l,
                 solved=s, baseline=1.0, status="ok") for i, (l, s) in enumerate(zip(losses, solved))]


def test_summary_aggregates_over_seeds_and_ranks():
    frame = pd.DataFrame(_rows("a", [0.1, 0.3], [True, False]) + _rows("b", [0.5, 0.52], [False, False])
                         + [dict(trial="c|t|5|0", cell="c", task="t", length=5, seed=0, params=100,
                                 loss=float("nan"), solved=False, baseline=1.0, status="diverged")])
    summary = summarize(frame).set_index("cell")
    assert summary.loc["a", "loss"] == pytest.approx(0.2)
    assert summary.loc["a", "loss_std"] == pytest.approx(statistics.stdev([0.1, 0.3]))
    # issue 24: 2 seeds give no interval (it was the 12.7-t one) and so no tie mark (it was "2 ≈")
    assert math.isnan(summary.loc["a", "loss_lo"]) and summary.loc["a", "loss_ci"].startswith("n too small")
    assert summary.loc["a", "solved"] == 0.5
    assert summary.loc["a", "rank"] == "1" and summary.loc["b", "rank"] == "2"
    assert summary.loc["c", "status"] == "1× diverged" and summary.loc["c", "rank"] == "–"
    md = to_markdown(frame)
    assert "| rank | cell |" in md and "**0.2 ± 0.14**" in md and "loss 95% CI" in md and "n too small" in md


def test_parse_params():
    assert parse_params("50k") == 50_000 and parse_params("1.5M") == 1_500_000 and parse_params(1234) == 1234
    for bad in ("x", "-5k", "0", "5g"):
        with pytest.raises(UsageError):
            parse_params(bad)


@pytest.mark.parametrize("task", [AddingTask(50), CopyTask(20)])
@pytest.mark.parametrize("budget", [20_000, 60_000])
def test_every_cell_matches_the_budget_within_3_percent(task, budget):
    reg = Registry()
    for name, entry in reg.cells.items():
        hidden, params = match_hidden(task, entry, budget, layers=1)
        assert abs(params - budget) <= 0.03 * budget, (name, hidden, params)
        from seqbench.models.model import build_model, count_params

        assert count_params(build_model(task, entry, hidden, 1, 0.0)) == params  # the real model's count


def test_budget_too_small_is_a_usage_error():
    reg = Registry()
    with pytest.raises(UsageError, match="too small for cell 'transformer'"):
        match_hidden(AddingTask(10), reg.cells["transformer"], 10, layers=1)


def test_run_with_a_parameter_budget(tmp_path):
    args = {k: v for k, v in TINY.items() if k != "hidden"}
    frame = seqbench.run(["rnn", "lstm", "gru", "transformer"], "adding", [5], params="8k", out=tmp_path, **args)
    assert ((frame["params"] - 8000).abs() <= 240).all()
    assert frame["hidden"].nunique() == 4
    with pytest.raises(UsageError, match="either a hidden size or a parameter budget"):
        seqbench.run("lstm", params="8k", hidden=32, out=tmp_path)


def test_noisy_timings_are_flagged_in_the_caption():
    rows = _rows("a", [0.1], [False]) + _rows("b", [0.2], [False])
    rows[0]["train_iqr"], rows[1]["train_iqr"] = 0.02, 0.35
    md = to_markdown(pd.DataFrame(rows))
    assert "noisy timings (IQR > 10% of the median) for b" in md
    rows[1]["train_iqr"] = 0.05
    assert "noisy" not in to_markdown(pd.DataFrame(rows))


def test_a_noisy_cell_is_named_once_however_many_configurations_it_has():
    rows = [dict(row, trial=f"b|t|5|0|{lr}", config_label=f"lr={lr}", lr=lr, train_iqr=0.3, infer_iqr=0.4)
            for lr in (0.1, 0.01) for row in _rows("b", [0.2], [False])]
    md = to_markdown(pd.DataFrame(rows))
    assert "noisy timings (IQR > 10% of the median) for b:" in md


def test_gap_column_only_where_an_optimum_is_not_zero():
    at_zero = pd.DataFrame(_rows("a", [0.1, 0.3], [True, False])).assign(optimum=0.0)
    assert "gap" not in summarize(at_zero) and "gap to opt" not in to_markdown(at_zero)
    known = at_zero.assign(optimum=0.05)
    assert summarize(known)["gap"].iloc[0] == pytest.approx(0.2 - 0.05)
    assert "gap to opt" in to_markdown(known)
    mixed = pd.concat([at_zero, known.assign(task="u", trial="a|u|5|0")])
    tables = to_markdown(mixed).split("### ")
    assert ["gap to opt" in t for t in tables[1:]] == [False, True]  # t (optimum 0), then u


def test_bounded_intervals_stay_inside_0_1():
    from seqbench.stats import interval95, welch_p, wilson

    # a t interval of [0.98, 1.0] would reach past 1; the logit-scale one does not
    # issue 24: 3 seeds where there were 2 (below 3 there is no interval: "n too small")
    lo, hi = interval95([0.98, 1.0, 1.0], "accuracy")
    assert 0 < lo < 0.98 and 0.99 < hi <= 1.0
    lo, hi = interval95([0.0, 1.0, 0.0, 1.0], "solved")  # two of four seeds solved: Wilson
    assert (lo, hi) == pytest.approx(wilson(2, 4)) and 0 < lo < 0.5 < hi < 1
    assert wilson(0, 3)[0] == pytest.approx(0.0, abs=1e-12) and wilson(3, 3)[1] == pytest.approx(1.0)
    # issue 24: the 2-seed loss interval was the plain t one, [0.2 ∓ 12.7 · 0.1414 / √2], reaching below 0
    assert all(math.isnan(x) for x in interval95([0.1, 0.3], "loss"))
    # Welch's test from scipy: separated samples, overlapping samples, too few seeds
    assert welch_p([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]) < 0.01
    assert welch_p([1.0, 2.0, 3.0], [1.5, 2.5, 2.0]) > 0.5
    assert math.isnan(welch_p([1.0], [2.0, 3.0]))
