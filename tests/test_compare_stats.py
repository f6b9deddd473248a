"""The statistics of ``seqbench compare`` (issue 24): one primary metric per task tested; Holm
(or Benjamini–Hochberg) over the family; a paired t-test when both runs share seeds, Welch's
otherwise; Fisher's exact test for solved rates; identical samples, constant samples, fewer than
3 seeds; effect sizes with 95 % intervals; the regression gate; and the null: two runs of one
configuration on different seeds differ nowhere in ≥ 95 % of 20 simulated pairs. The run
folders are written through the store API (no training), so this file runs in seconds."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from seqbench.cli import main
from seqbench.execute.local import empty_row
from seqbench.reporting.compare_tables import export, regressions, tables
from seqbench.spec.config import RunConfig
from seqbench.store import RunDir
from seqbench.studies.comparison import compare, worse
from seqbench.studies.significance import adjust, fisher_p, newcombe, two_samples

TASKS = {"adding": {"metric": "loss", "metric_higher_is_better": False},
         "copy": {"metric": "accuracy", "metric_higher_is_better": True}}
METRICS = {"loss": False, "accuracy": True}


def store_run(root, name, values, seeds="0-4", cells=("rnn",), tasks=("adding",), lengths=(8,)) -> str:
    """A run folder as ``seqbench run`` writes it (config.json, one results.csv row per TrialSpec
    of the RunConfig), the metrics of each row from ``values(cell, task, length, seed)``."""
    config = RunConfig(cells=list(cells), tasks=list(tasks), lengths=list(lengths), seeds=seeds, steps=40)
    run = RunDir.create(root, name)
    run.write_json("config.json", {"configs": [config.to_dict()], "metrics": METRICS,
                                   "tasks": {f"{t}|{n}": TASKS[t] for t in tasks for n in lengths}})
    for spec in config.trials():
        row = empty_row(spec, SimpleNamespace(metrics=METRICS))
        row.update({"train_tok_s": 1000.0 + spec.seed, "train_iqr": 0.02, "steps": spec.steps,
                    **values(spec.cell, spec.task, spec.length, spec.seed)})
        run.append(row)
    return str(run.path)


def table_of(**per_cell):
    """values() from ``{cell: {seed: loss}}`` (loss only; solved when loss < 0.5)."""
    return lambda cell, task, length, seed: {"loss": per_cell[cell][seed], "solved": per_cell[cell][seed] < 0.5}


def one(frame, cell="rnn", metric="loss"):
    return frame[(frame["cell"] == cell) & (frame["metric"] == metric)].iloc[0]


# --- the helpers -----------------------------------------------------------------------------

def test_holm_and_benjamini_hochberg_adjust_a_family():
    assert adjust([0.01, 0.04, 0.03, math.nan], "holm")[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(adjust([0.01, math.nan], "holm")[1])  # NaN: not a member, and not counted in m
    assert adjust([0.01, math.nan], "holm")[0] == pytest.approx(0.01)
    assert adjust([0.01, 0.04, 0.03], "bh") == pytest.approx([0.03, 0.04, 0.04])
    assert adjust([0.5, 0.9], "holm") == pytest.approx([1.0, 1.0])  # capped at 1, monotone


def test_fisher_and_newcombe():
    assert fisher_p(3, 3, 0, 3) == pytest.approx(0.1)  # issue 24: a t-test said p = 0
    assert fisher_p(5, 5, 0, 5) == pytest.approx(2 / 252)
    lo, hi = newcombe(3, 3, 0, 3)
    assert -1 <= lo < -0.3 and hi < 0 and hi == pytest.approx(-0.2, abs=0.1)
    found = two_samples([1, 1, 1], [0, 0, 0], binary=True)
    assert (found.test, found.p, found.diff) == ("Fisher", pytest.approx(0.1), -1.0)


def test_effect_size_intervals_match_scipy():
    a, b = [0.10, 0.12, 0.11, 0.13, 0.09], [0.15, 0.13, 0.17, 0.12, 0.16]
    welch = two_samples(a, b, [0, 1, 2, 3, 4], [5, 6, 7, 8, 9])
    reference = stats.ttest_ind(b, a, equal_var=False)
    assert welch.test == "Welch" and welch.p == pytest.approx(reference.pvalue)
    ci = reference.confidence_interval()
    assert (welch.diff_lo, welch.diff_hi) == pytest.approx((ci.low, ci.high))
    paired = two_samples(a, b, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    reference = stats.ttest_rel(b, a)
    ci = reference.confidence_interval()
    assert paired.test == "paired t" and paired.p == pytest.approx(reference.pvalue)
    assert (paired.diff_lo, paired.diff_hi) == pytest.approx((ci.low, ci.high))
    for found in (welch, paired):  # the ratio's interval: on the log scale, around the ratio
        assert found.ratio == pytest.approx(np.mean(b) / np.mean(a))
        assert 0 < found.ratio_lo < found.ratio < found.ratio_hi
    assert welch.ratio_lo > 1 and welch.diff_lo > 0  # p = 0.004: both intervals exclude "no change"
    # seeds that do not match one to one: Welch
    assert two_samples(a, b, [0, 1, 2, 3, 4], [0, 1, 2, 3, 5]).test == "Welch"


# --- the verdicts of compare -----------------------------------------------------------------

def test_paired_when_both_runs_share_seeds(tmp_path):
    # seeds differ a lot from each other, the later run is 0.1 worse on every seed
    spread = {s: 1.0 + s for s in range(5)}
    shifted = {s: 1.1 + s + 0.01 * (s % 2) for s in range(5)}
    base = store_run(tmp_path, "A", table_of(rnn=spread))
    same_seeds = store_run(tmp_path, "B", table_of(rnn=shifted))
    loss = one(compare([base, same_seeds]))
    assert loss["test_B"] == "paired t" and loss["verdict_B"] == "worse" and loss["p_adj_B"] < 0.001
    # the same values on other seeds cannot be paired: Welch sees the seed-to-seed spread
    fresh = {s + 5: v for s, v in shifted.items()}
    other_seeds = store_run(tmp_path, "C", table_of(rnn=fresh), seeds="5-9")
    loss = one(compare([base, other_seeds]))
    assert loss["test_C"] == "Welch" and loss["verdict_C"] == "not distinguishable" and loss["p_C"] > 0.5


def test_holm_corrects_over_the_family(tmp_path):
    base_rnn = {s: v for s, v in enumerate([0.10, 0.12, 0.11, 0.13, 0.09])}
    later_rnn = {s + 5: v + 0.03 for s, v in enumerate([0.10, 0.12, 0.11, 0.13, 0.09])}
    flat = {s: 0.2 + 0.01 * (s % 3) for s in range(10)}
    cells = ("rnn", "gru", "lstm")
    a = store_run(tmp_path, "A", table_of(rnn=base_rnn, gru=flat, lstm=flat), cells=cells)
    b = store_run(tmp_path, "B", table_of(rnn=later_rnn, gru=flat, lstm=flat), seeds="5-9", cells=cells)
    frame = compare([a, b])
    loss = one(frame)
    assert loss["test_B"] == "Welch" and 0.01 < loss["p_B"] < 0.05  # significant alone ...
    assert frame.attrs["family"] == 3 and loss["p_adj_B"] == pytest.approx(3 * loss["p_B"])
    assert loss["verdict_B"] == "not distinguishable"  # ... not among three
    assert frame.attrs["correction"] == "holm" and "Holm's step-down over the family of 3" in tables(frame)[0].caption
    alone_a = store_run(tmp_path, "A1", table_of(rnn=base_rnn))
    alone_b = store_run(tmp_path, "B1", table_of(rnn=later_rnn), seeds="5-9")
    assert one(compare([alone_a, alone_b]))["verdict_B1"] == "worse"
    bh = compare([a, b], correction="bh")
    assert bh.attrs["correction"] == "bh" and "Benjamini–Hochberg" in export(bh, "markdown")
    assert one(bh)["p_adj_B"] == pytest.approx(3 * loss["p_B"])  # the smallest of 3: m/1 · p
    with pytest.raises(Exception, match="unknown correction"):
        compare([a, b], correction="bonferroni")


def test_only_the_primary_metric_is_tested(tmp_path):
    def values(shift):
        return lambda cell, task, length, seed: {"loss": 0.1 + 0.001 * seed, "accuracy": 0.2 + shift + 0.001 * seed}

    a = store_run(tmp_path, "A", values(0.0))
    b = store_run(tmp_path, "B", values(0.5))
    frame = compare([a, b])
    accuracy, loss = one(frame, metric="accuracy"), one(frame)
    assert bool(loss["primary"]) and not accuracy["primary"]
    assert accuracy["p_B"] < 1e-6 and accuracy["verdict_B"] == "" and math.isnan(accuracy["p_adj_B"])
    assert accuracy["diff_B"] == pytest.approx(0.5) and accuracy["diff_lo_B"] == pytest.approx(0.5, abs=0.01)
    assert loss["verdict_B"] == "no difference" and frame.attrs["family"] == 1
    assert "(tested: loss)" in tables(frame)[0].title
    # tested= picks another metric to test instead
    accuracy = one(compare([a, b], tested="accuracy"), metric="accuracy")
    assert accuracy["verdict_B"] == "better" and accuracy["p_adj_B"] < 1e-6


def test_solved_rates_get_fishers_exact_test(tmp_path):
    a = store_run(tmp_path, "A", table_of(rnn={s: 0.1 for s in range(3)}), seeds=3)
    b = store_run(tmp_path, "B", table_of(rnn={s: 0.9 + 0.01 * s for s in range(3)}), seeds=3)
    solved = one(compare([a, b], tested="solved"), metric="solved")
    assert solved["test_B"] == "Fisher" and solved["p_B"] == pytest.approx(0.1)  # 3/3 vs 0/3
    assert solved["verdict_B"] == "not distinguishable" and solved["diff_B"] == -1.0
    assert -1 <= solved["diff_lo_B"] < solved["diff_hi_B"] < 0  # Newcombe's interval
    shown = one(compare([a, b]), metric="solved")  # by default shown with Fisher's p, not tested
    assert shown["p_B"] == pytest.approx(0.1) and shown["verdict_B"] == ""
    a5 = store_run(tmp_path, "A5", table_of(rnn={s: 0.1 for s in range(5)}), seeds=5)
    b5 = store_run(tmp_path, "B5", table_of(rnn={s: 0.9 for s in range(5)}), seeds=5)
    assert one(compare([a5, b5], tested="solved"), metric="solved")["verdict_B5"] == "worse"  # p = 0.008


def test_identical_constant_and_too_few(tmp_path, capsys):
    spread = {s: 0.1 + 0.01 * s for s in range(3)}
    a = store_run(tmp_path, "A", table_of(rnn=spread), seeds=3)
    same = store_run(tmp_path, "same", table_of(rnn=spread), seeds=3)
    loss = one(compare([a, same]))
    assert loss["verdict_same"] == "no difference" and loss["p_adj_same"] == 1.0 and loss["diff_same"] == 0
    # constant but different: no p-value, only the difference, never better or worse
    c1 = store_run(tmp_path, "c1", table_of(rnn={s: 0.1 for s in range(3)}), seeds=3)
    c2 = store_run(tmp_path, "c2", table_of(rnn={s: 0.2 for s in range(3)}), seeds=3)
    frame = compare([c1, c2])
    loss = one(frame)
    assert loss["verdict_c2"] == "differs (no spread)" and math.isnan(loss["p_c2"]) and math.isnan(loss["p_adj_c2"])
    assert loss["diff_c2"] == pytest.approx(0.1) and loss["ratio_c2"] == pytest.approx(2.0)
    assert frame.attrs["family"] == 0 and regressions(frame, 5) == []
    # fewer than 3 seeds a side: inconclusive however large the difference
    t1 = store_run(tmp_path, "t1", table_of(rnn={0: 0.1, 1: 0.11}), seeds=2)
    t2 = store_run(tmp_path, "t2", table_of(rnn={0: 0.9, 1: 0.91, 2: 0.92}), seeds=3)
    frame = compare([t1, t2])
    loss = one(frame)
    assert loss["verdict_t2"] == "inconclusive" and math.isnan(loss["p_adj_t2"]) and math.isnan(loss["diff_lo_t2"])
    assert loss["diff_t2"] == pytest.approx(0.805) and regressions(frame, 5) == []
    assert "n too small" in export(frame, "markdown")
    assert main(["compare", t1, t2, "--fail-on-regression", "5"]) == 2  # a gate that decided nothing
    assert "every tested comparison is inconclusive: fewer than 3 seeds" in capsys.readouterr().err
    assert main(["compare", c1, c2, "--fail-on-regression", "5"]) == 2  # no spread: nothing decided either
    assert "could be decided" in capsys.readouterr().err
    # three seeds a side is enough
    t3 = store_run(tmp_path, "t3", table_of(rnn={0: 0.1, 1: 0.11, 2: 0.12}), seeds=3)
    assert one(compare([t3, t2]))["verdict_t2"] == "worse"


def test_gate_fails_only_on_a_significant_regression_larger_than_pct(tmp_path, capsys):
    base = {s: 0.10 + 0.01 * (s % 3) for s in range(5)}
    a = store_run(tmp_path, "A", table_of(rnn=base))
    b = store_run(tmp_path, "B", table_of(rnn={s: v * 1.2 + 0.002 * (s % 2) for s, v in base.items()}))
    frame = compare([a, b])
    assert one(frame)["verdict_B"] == "worse"
    assert [found["metric"] for found in worse(frame, 10)] == ["loss"]
    assert regressions(frame, 25) == []  # about 21 % worse: under the threshold
    assert main(["compare", a, b, "--fail-on-regression", "10"]) == 1
    assert "loss" in capsys.readouterr().err
    assert main(["compare", a, b, "--fail-on-regression", "25"]) == 0


# --- the null: the acceptance test of issue 24 -----------------------------------------------

CELLS, SIM_TASKS, SIM_LENGTHS = ("rnn", "gru", "lstm"), ("adding", "copy"), (8, 16)


def simulated(rng: np.random.Generator, shift: float = 0.0):
    """values(): one distribution per cell × task × length (loss log-normal around a cell's level,
    accuracy a clipped normal), each call a fresh draw; ``shift`` makes the losses worse."""
    centre = {(c, t, n): (0.05 + 0.03 * i + 0.01 * j, 0.3 + 0.2 * i) for i, c in enumerate(CELLS)
              for j, (t, n) in enumerate((t, n) for t in SIM_TASKS for n in SIM_LENGTHS)}

    def values(cell, task, length, seed):
        loss, accuracy = centre[cell, task, length]
        drawn = {"loss": loss * float(np.exp(rng.normal(0, 0.15))) * (1 + shift),
                 "accuracy": float(np.clip(rng.normal(accuracy, 0.05), 0, 1)) if task == "copy" else math.nan}
        return {**drawn, "solved": drawn["loss"] < 0.08}
    return values


def simulate_pair(root, rng, shift=0.0):
    options = dict(cells=CELLS, tasks=SIM_TASKS, lengths=SIM_LENGTHS)
    a = store_run(root, "A", simulated(rng), seeds="0-4", **options)
    b = store_run(root, "B", simulated(rng, shift), seeds="5-9", **options)
    return compare([a, b])


def test_same_configuration_on_fresh_seeds_differs_nowhere_in_95_percent_of_pairs(tmp_path):
    # a fixed seed (the first tried, 0); over 200 pairs (seed 7) 2 % of pairs flagged something, and
    # at the stats level Welch + Holm over 12 tests of n = 5 flags 3.3 % (20,000 pairs): P(≥ 2 of 20) ≈ 14 %
    rng = np.random.default_rng(0)
    flagged, raw_hits, tested = 0, 0, 0
    for i in range(20):
        frame = simulate_pair(tmp_path / str(i), rng)
        assert frame.attrs["differences"] == {"B": [["seeds", "5", "5-9"]]}
        primary = frame[frame["primary"]]
        assert set(primary["test_B"]) == {"Welch"} and len(primary) == 12  # 3 cells × 2 tasks × 2 lengths
        tested += frame.attrs["family"]
        raw_hits += int((primary["p_B"] < 0.05).any())
        flagged += int(frame["verdict_B"].isin(["better", "worse"]).any())
    assert tested == 20 * 12
    assert flagged <= 1  # ≥ 95 % of the 20 pairs: no significant difference on any metric
    assert raw_hits >= 3  # uncorrected, 12 tests a pair would often flag something: the correction matters
    # and the same procedure does see a real difference: losses twice as large (adding's primary metric)
    frame = simulate_pair(tmp_path / "shifted", rng, shift=1.0)
    shifted = frame[frame["primary"] & (frame["task"] == "adding")]
    assert len(shifted) == 6 and set(shifted["verdict_B"]) == {"worse"}
