"""Intervals in the metric's domain, containing the mean the tables show; none below 3 seeds;
ranks and "≈" read off the shown intervals; diverged seeds counted, never dropped (issue 24).
Run folders are written through the store API (no training), so this file runs in seconds."""
from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest

from seqbench.cli import main
from seqbench.reporting.run_tables import spread_note, summarize, to_markdown
from seqbench.stats import (MIN_SEEDS, interval, interval95, mean_std_ci, ranks_from_intervals, ranks_with_ties,
                            t95, wilson)

from test_plots_degenerate import make_run, normal

LOSSES = ("loss", "perplexity", "bits_per_token", "mse", "val_loss")
BOUNDED = ("accuracy", "copy_accuracy")
SAMPLES = {  # name: values, each kind of degenerate sample
    "spread": [0.1, 0.2, 0.3, 0.25],
    "one outlier high": [1e-4] * 9 + [0.17],
    "one outlier low": [0.999999] * 9 + [0.5],
    "a zero": [0.0, 0.1, 0.2],
    "all zero": [0.0, 0.0, 0.0],
    "all one": [1.0, 1.0, 1.0],
    "zeros and a one": [0.0, 0.0, 1.0],
    "tiny": [1e-9, 2e-9, 5e-9],
    "three equal floats": [0.1, 0.1, 0.1],
}


def _in_domain(name: str, lo: float, hi: float) -> bool:
    if name in BOUNDED or name == "solved":
        return 0.0 <= lo <= hi <= 1.0
    return 0.0 <= lo <= hi


@pytest.mark.parametrize("name", [*LOSSES, *BOUNDED, "solved"])
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_every_interval_stays_in_its_domain_and_holds_the_mean(name, sample):
    values = SAMPLES[sample]
    lo, hi, note = interval(values, name)
    mean = sum(values) / len(values)
    assert not math.isnan(lo) and not math.isnan(hi), note
    assert _in_domain(name, lo, hi), (lo, hi)
    if name == "solved":
        assert (lo, hi) == wilson(sum(v >= 0.5 for v in values), len(values))
        return
    assert lo - 1e-12 * abs(mean) <= mean <= hi + 1e-12 * abs(mean), (lo, mean, hi)
    if max(values) > min(values):
        assert lo < mean < hi and note  # an interval with width, and how it was computed
        if mean > 0 and name in LOSSES:
            assert lo > 0  # on the log scale: a loss interval never reaches 0


def test_the_issues_examples_before_and_after():
    # accuracy [0.999999 ×9, 0.5]: mean 0.95; the old interval, centred on expit(mean logit), was
    # [0.99991, 0.9999998] and missed it; now it is centred on logit(0.95) and holds it
    values = [0.999999] * 9 + [0.5]
    lo, hi = interval95(values, "accuracy")
    assert lo < 0.95 < hi <= 1.0 and lo == pytest.approx(0.637, abs=1e-3) and hi == pytest.approx(0.9952, abs=1e-4)
    # loss from 2 seeds: the plain t interval [-0.0001538, 0.0003443] had t₁ = 12.7; now none
    lo, hi, note = interval([2.7e-5, 1.63e-4], "loss")
    assert math.isnan(lo) and math.isnan(hi) and note.startswith("n too small")
    # the same spread over 3 seeds: positive, and the log-scale interval is centred on the mean
    values = [2.7e-5, 1.63e-4, 9.5e-5]
    lo, hi = interval95(values, "loss")
    mean, std, half_width = mean_std_ci(values)
    assert mean - half_width < 0 < lo < mean < hi  # the plain t interval reaches below 0; this one does not
    assert lo * hi == pytest.approx(mean ** 2)  # geometrically centred on the mean
    assert hi / mean == pytest.approx(math.exp(t95(2) * std / math.sqrt(3) / mean))
    # a geometric-mean interval (t interval of the log values) would miss the mean 0.0171 here
    skewed = [1e-4] * 9 + [0.17]
    logs = [math.log(v) for v in skewed]
    m, _, h = mean_std_ci(logs)
    assert math.exp(m + h) < 0.0171
    lo, hi = interval95(skewed, "loss")
    assert 0 < lo < 0.0171 < hi


def test_the_accuracy_interval_is_centred_on_the_logit_of_the_mean():
    values = [0.6, 0.7, 0.9]
    lo, hi = interval95(values, "accuracy")
    mean, std, _ = mean_std_ci(values)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    assert logit(lo) + logit(hi) == pytest.approx(2 * logit(mean))
    assert logit(hi) - logit(mean) == pytest.approx(t95(2) * std / math.sqrt(3) / (mean * (1 - mean)))


@pytest.mark.parametrize("name", [*LOSSES, *BOUNDED, "solved", "custom"])
def test_fewer_than_three_seeds_give_no_interval(name):
    assert MIN_SEEDS == 3
    for values in ([], [0.5], [0.2, 0.4], [0.5, 0.5], [0.2, float("nan"), 0.4]):
        lo, hi, note = interval(values, name)
        assert math.isnan(lo) and math.isnan(hi) and note.startswith("n too small"), (values, note)
    assert not math.isnan(interval([0.2, 0.4, 0.3], name).lo)


def test_values_outside_the_domain_give_no_interval_and_say_why():
    for values, name, why in (([-0.1, 0.2, 0.3], "loss", "negative"), ([0.5, 1.2, 0.9], "accuracy", "outside [0, 1]"),
                              ([0.1, math.inf, 0.3], "loss", "infinite")):
        lo, hi, note = interval(values, name)
        assert math.isnan(lo) and math.isnan(hi) and why in note
    assert interval95([-1.0, 0.0, 1.0], "custom") == pytest.approx((-t95(2) / math.sqrt(3), t95(2) / math.sqrt(3)))


def test_ties_come_from_the_shown_intervals():
    # the issue's tuned copy table: GRU [0.030, 0.926] next to the Transformer at [1, 1] is no tie
    assert ranks_from_intervals([0.478, 1.0], [0.030, 1.0], [0.926, 1.0], True) == ["2", "1"]
    assert ranks_from_intervals([0.478, 1.0], [0.030, 0.99], [0.926, 1.0], True) == ["2", "1"]
    assert ranks_from_intervals([0.478, 1.0], [0.030, 0.9], [0.926, 1.0], True) == ["2 ≈", "1"]
    # asymmetric (log-scale) intervals: a symmetric half-width would call these a tie
    means, lows, highs = [0.1, 0.3], [0.09, 0.13], [0.12, 0.9]
    assert ranks_from_intervals(means, lows, highs, False) == ["1", "2"]
    assert ranks_with_ties(means, [0.02, 0.4], False) == ["1", "2 ≈"]
    assert ranks_from_intervals([0.1, 0.2], [math.nan, 0.1], [math.nan, 0.3], False) == ["1", "2"]  # unknown: no mark
    assert ranks_from_intervals([0.1, math.nan], [0.0, math.nan], [0.2, math.nan], False) == ["1", "–"]


def _rows(cell, values, solved=None, status=None, metric="accuracy"):
    n = len(values)
    return [dict(trial=f"{cell}|copy|5|{i}", cell=cell, task="copy", length=5, seed=i, params=100,
                 loss=0.5, **{metric: v}, solved=(solved or [False] * n)[i], baseline=1.0,
                 status=(status or ["ok"] * n)[i]) for i, v in enumerate(values)]


def test_the_summarys_ranks_follow_its_intervals():
    info = {"copy|5": {"metric": "accuracy", "metric_higher_is_better": True}}
    frame = pd.DataFrame(_rows("gru", [0.03, 0.5, 0.9]) + _rows("transformer", [1.0, 1.0, 1.0])
                         + _rows("lstm", [0.1, 0.4, 0.6]))
    summary = summarize(frame, task_info=info).set_index("cell")
    assert summary.loc["transformer", ["accuracy_lo", "accuracy_hi"]].tolist() == [1.0, 1.0]
    assert summary.loc["gru", "accuracy_hi"] < 1.0
    assert summary["rank"].to_dict() == {"transformer": "1", "gru": "2", "lstm": "3 ≈"}
    assert summary.loc["gru", "accuracy_ci"].startswith("t interval on the logit scale")
    md = to_markdown(frame, task_info=info)
    assert "logit scale" in md and "≈ marks a rank whose interval overlaps" in md


def test_two_seeds_print_n_too_small_not_an_interval():
    info = {"copy|5": {"metric": "accuracy", "metric_higher_is_better": True}}
    frame = pd.DataFrame(_rows("gru", [0.2, 0.9]) + _rows("lstm", [0.1, 0.3]))
    md = to_markdown(frame, task_info=info)
    assert md.count("| n too small |") == 2 and "95% CI: n too small (fewer than 3 seeds)" in md
    assert summarize(frame, task_info=info)["rank"].tolist() == ["1", "2"]  # no tie mark without intervals


def test_diverged_seeds_are_counted_and_shown():
    info = {"copy|5": {"metric": "accuracy", "metric_higher_is_better": True}}
    rows = _rows("gru", [0.9, 0.95, math.nan, 0.97], solved=[True, True, False, True],
                 status=["ok", "ok", "diverged", "ok"]) + _rows("lstm", [0.5, 0.6, 0.7, 0.8])
    frame = pd.DataFrame(rows)
    gru = summarize(frame, task_info=info).set_index("cell").loc["gru"]
    assert (gru["seeds"], gru["seeds_ok"], gru["diverged"], gru["accuracy_n"]) == (4, 3, 1, 3)
    assert gru["solved"] == 0.75 and gru["solved_n"] == 4  # the diverged seed is unsolved, not dropped
    assert gru["accuracy"] == pytest.approx((0.9 + 0.95 + 0.97) / 3)
    md = to_markdown(frame, task_info=info)
    assert "(n=3)" in md and "3/4 ok · 1× diverged" in md and "a diverged seed counts as unsolved" in md
    gru_line = next(line for line in md.splitlines() if "| gru |" in line)
    lstm_line = next(line for line in md.splitlines() if "| lstm |" in line)
    assert "(n=3)" in gru_line and "(n=" not in lstm_line and "100 (n=" not in gru_line  # not on params


def test_captions_say_what_the_spread_and_intervals_mean():
    assert "log scale" in spread_note(3, "loss") and "logit scale" in spread_note(3, "accuracy")
    assert "sample std over 3 seeds" in spread_note(3, "perplexity") and "log scale" in spread_note(3, "perplexity")
    assert "n too small" in spread_note(2, "loss") and "log scale" not in spread_note(2, "loss")
    assert spread_note(1, "loss") == "1 seed (no spread)"


def degenerate(cell: str, task: str, length: int, seed: int) -> dict:
    """Zero losses, a loss outlier, accuracies at 0 and 1 and a diverged seed."""
    row = normal(cell, task, length, seed)
    if task == "copy":
        row["accuracy"] = {("lstm", 20): 1.0, ("lstm", 40): 0.0}.get((cell, length), [1.0, 0.0, 0.5][seed % 3])
    if (task, cell) == ("adding", "lstm"):
        row["loss"] = 0.0 if length == 20 else [1e-4, 1e-4, 0.17][seed % 3]
    if (task, cell, seed) == ("adding", "gru", 1):
        row.update(status="diverged", loss=math.inf)
    return row


@pytest.mark.parametrize("seeds", [2, 3, 4])
def test_no_export_shows_an_interval_outside_its_domain(tmp_path, seeds, capsys):
    run = make_run(tmp_path, "run", seeds, degenerate, ("copy", "adding"))
    exports = {}
    for fmt in ("csv", "json", "table", "markdown"):
        out = tmp_path / f"report.{fmt}"
        assert main(["report", run, "--format", fmt, "-o", str(out)]) == 0, capsys.readouterr().err
        exports[fmt] = out.read_text(encoding="utf-8")
    csv = pd.read_csv(io.StringIO(exports["csv"]))
    records = pd.DataFrame(json.loads(exports["json"]))
    checked = 0
    for frame in (csv, records):
        for column in [c[:-3] for c in frame if c.endswith("_lo")]:
            for _, row in frame.iterrows():
                lo, hi, mean, note = row[f"{column}_lo"], row[f"{column}_hi"], row[column], row[f"{column}_ci"]
                if pd.isna(lo) or pd.isna(hi):
                    assert isinstance(note, str) and note, (column, row["cell"])  # a reason, never a silent NaN
                    if row[f"{column}_n"] < 3:
                        assert note.startswith("n too small")
                    continue
                assert seeds >= 3 and row[f"{column}_n"] >= 3
                bounded = column in ("accuracy", "solved")
                assert 0 <= lo <= hi and (hi <= 1 or not bounded), (column, lo, hi)
                if column != "solved":
                    assert lo - 1e-9 <= mean <= hi + 1e-9, (column, lo, mean, hi)
                checked += 1
    assert (checked > 0) == (seeds >= 3)
    for fmt in ("table", "markdown"):
        assert ("n too small" in exports[fmt]) == (seeds <= 3)  # 3 seeds: gru's adding mean is over 2 ok seeds
        assert "-0." not in exports[fmt] and "[-" not in exports[fmt]  # no negative bound anywhere
    assert "1/" not in exports["markdown"] or "ok · " in exports["markdown"]
    assert f"{seeds - 1}/{seeds} ok · 1× diverged" in exports["markdown"]


def test_the_t95_table_is_scipys_to_the_last_bit():
    from scipy.special import stdtrit

    from seqbench.stats import T95_TABLE

    assert [t95(df) for df in range(1, len(T95_TABLE) + 1)] == [float(stdtrit(df, 0.975)) for df in
                                                               range(1, len(T95_TABLE) + 1)]
    assert t95(2.5) == float(stdtrit(2.5, 0.975)) and t95(40) == float(stdtrit(40, 0.975))  # beyond it: scipy
    assert math.isnan(t95(0.5))
