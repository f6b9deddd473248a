"""The MAD protocol: the score (selection on validation per difficulty setting, test reported,
averaged over settings then tasks), its tables and figure, the suites, the published numbers."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from seqbench.cli import main
from seqbench.studies.mad import mad_study

MAD_TASKS = ("in-context-recall", "fuzzy-recall", "noisy-recall", "selective-copy", "compression", "memorization")
INFO = {f"{t}|{T}": {"metric": "accuracy", "metric_higher_is_better": True} for t in ("a", "b") for T in (8, 16)}


def row(cell: str, task: str, length: int, config: str, val: float, test: float, *, n: int = 64, seed: int = 0,
        status: str = "ok", lr: float = 1e-3, wd: float = 0.0, opts: str = "") -> dict:
    return {"cell": cell, "task": task, "length": length, "config": config, "config_label": config, "seed": seed,
            "task_opts": opts, "train_examples": n, "lr": lr, "weight_decay": wd, "status": status,
            "val_accuracy": val, "accuracy": test}


def test_each_setting_picks_on_validation_and_reports_test():
    rows = [row("lstm", "a", 8, "c1", val=0.9, test=0.5, lr=1e-3),  # best on validation, worse on test
            row("lstm", "a", 8, "c2", val=0.8, test=0.9, lr=3e-3),
            row("lstm", "a", 16, "c1", val=0.1, test=0.2),
            row("lstm", "a", 16, "c2", val=0.3, test=0.4, wd=0.1)]
    result = mad_study(pd.DataFrame(rows), INFO)
    chosen = result.settings.set_index("length")
    assert chosen.loc[8, "test"] == 0.5 and chosen.loc[8, "lr"] == 1e-3  # never picked on test
    assert chosen.loc[16, "test"] == 0.4 and chosen.loc[16, "weight_decay"] == 0.1
    assert (chosen["configs"] == 2).all()
    assert result.tasks["score"].tolist() == [pytest.approx(0.45)]  # mean over the two settings
    assert result.cells["score"].tolist() == [pytest.approx(0.45)]


def test_settings_are_length_options_and_training_set_size_and_seeds_are_averaged():
    rows = [row("gru", "a", 8, "c1", 0.5, 0.6, n=64, seed=0), row("gru", "a", 8, "c1", 0.7, 0.8, n=64, seed=1),
            row("gru", "a", 8, "c2", 0.55, 0.1, n=64, seed=0), row("gru", "a", 8, "c2", 0.55, 0.1, n=64, seed=1),
            row("gru", "a", 8, "c3", 0.9, 0.9, n=16), row("gru", "a", 8, "c4", 0.2, 0.3, opts='{"vocab_size": 32}'),
            row("gru", "b", 8, "c1", 0.2, 1.0)]
    result = mad_study(pd.DataFrame(rows), INFO)
    settings = result.settings[result.settings["task"] == "a"]
    assert sorted(settings["setting"]) == ["T=8, N=16", "T=8, N=64", "T=8, vocab_size=32, N=64"]
    n64 = settings[settings["setting"] == "T=8, N=64"].iloc[0]
    assert n64["test"] == pytest.approx(0.7) and n64["seeds"] == 2  # c1: mean val 0.6 beats c2's 0.55
    scores = dict(zip(result.tasks["task"], result.tasks["score"]))
    assert scores == {"a": pytest.approx((0.7 + 0.9 + 0.3) / 3), "b": 1.0}
    assert result.cells["score"].iloc[0] == pytest.approx(((0.7 + 0.9 + 0.3) / 3 + 1.0) / 2)


def test_a_configuration_with_a_diverged_seed_ranks_after_complete_ones():
    rows = [row("rnn", "a", 8, "c1", 0.99, 0.99, seed=0), row("rnn", "a", 8, "c1", math.nan, math.nan, seed=1,
                                                               status="diverged"),
            row("rnn", "a", 8, "c2", 0.3, 0.35, seed=0), row("rnn", "a", 8, "c2", 0.3, 0.25, seed=1)]
    result = mad_study(pd.DataFrame(rows), INFO)
    assert result.settings["test"].iloc[0] == pytest.approx(0.3)


@pytest.mark.parametrize("frame", [
    pd.DataFrame(),
    pd.DataFrame([{"cell": "lstm", "task": "a", "length": 8, "status": "ok"}]),  # no metric columns at all
    pd.DataFrame([row("lstm", "a", 8, "c1", math.nan, math.nan)]),  # one configuration, NaN
    pd.DataFrame([row("lstm", "a", 8, "c1", 0.5, 0.5, status="error: boom")]),
])
def test_degenerate_runs_give_empty_or_nan_scores_never_a_traceback(frame):
    result = mad_study(frame, INFO)
    assert result.cells.empty or result.cells["score"].isna().all()
    from seqbench.reporting.mad_tables import tables

    assert tables(result)  # the tables render, saying what is missing
    if not result.tasks.empty:
        assert result.notes and "no usable configuration" in result.notes[0]


def test_a_cell_missing_a_task_is_scored_over_fewer_tasks_and_says_so():
    from seqbench.reporting.mad_tables import score_table

    rows = [row("lstm", "a", 8, "c1", 0.5, 0.5), row("lstm", "b", 8, "c1", 0.5, 0.7), row("gru", "a", 8, "c1", 0.5, 0.9)]
    result = mad_study(pd.DataFrame(rows), INFO)
    cells = result.cells.set_index("cell")
    assert cells.loc["gru", "tasks"] == 1 and cells.loc["gru", "of"] == 2
    table = score_table(result)
    assert "(1 of 2 tasks)" in [r for r in table.rows if r[0] == "gru"][0][-1]
    assert "best mean validation accuracy" in table.caption and "mean over tasks" in table.caption


def test_the_published_rows_match_the_averages_their_sources_print():
    from seqbench.reporting.mad_tables import PUBLISHED_AVERAGE, published_check

    for source, model in PUBLISHED_AVERAGE:
        mean, printed = published_check(source, model)
        assert abs(mean - printed) <= 0.1, (source, model)


def test_published_numbers_sit_beside_the_cells_that_have_the_same_layer():
    from seqbench.reporting.mad_tables import PAPER, RERUN, published_tables

    rows = [row(cell, task, 8, "c1", 0.5, 0.5) for cell in ("transformer", "lstm") for task in MAD_TASKS]
    info = {f"{t}|8": {"metric": "accuracy", "metric_higher_is_better": True} for t in MAD_TASKS}
    (table,) = published_tables(mad_study(pd.DataFrame(rows), info))
    models = [(r[0], r[1]) for r in table.rows]
    assert models == [("transformer", "measured here"), ("Transformer", PAPER), ("Transformer", RERUN)]
    paper = table.rows[1]
    assert paper[table.headers.index("in-context-recall ↑")] == "0.941"  # 94.1 % in the MAD paper
    assert "the MAD paper's numbers, the others re-runs" in table.caption
    lstm_only = [r for r in rows if r["cell"] == "lstm"]
    assert published_tables(mad_study(pd.DataFrame(lstm_only), info)) == []


def test_the_heat_map_draws_cells_by_tasks_and_names_what_is_missing():
    pytest.importorskip("matplotlib")
    from seqbench.errors import UsageError
    from seqbench.reporting.mad_plots import mad_heatmap

    rows = [row("lstm", "a", 8, "c1", 0.5, 0.5), row("lstm", "b", 8, "c1", 0.5, 0.7),
            row("gru", "a", 8, "c1", 0.5, 0.9), row("gru", "b", 8, "c1", math.nan, math.nan)]
    result = mad_study(pd.DataFrame(rows), INFO)
    left_out: list = []
    fig = mad_heatmap(result.tasks, result.cells, left_out=left_out)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == ["0.50", "0.70", "0.60", "0.90", "–", "0.90"]  # lstm a, b, mean; gru a, b, mean
    assert left_out == ["gru on b (no score)"]
    with pytest.raises(UsageError, match="no MAD score"):
        mad_heatmap(result.tasks.iloc[0:0], result.cells)


def _suite(tmp_path, protocol: str = "mad") -> str:
    path = tmp_path / "tiny-mad.toml"
    path.write_text(f"""protocol = "{protocol}"
[defaults]
cells = ["lstm", "transformer"]
hidden = 8
batch = 8
steps = 4
eval_every = 4
eval_examples = 16
lr = [1e-3, 1e-2]
weight_decay = [0.0, 0.1]
[[part]]
tasks = ["associative-recall"]
lengths = [12]
task_params = {{ associative-recall = {{ pairs = 2 }} }}
train_examples = [16, 32]
[[part]]
tasks = ["selective-copy"]
lengths = [8]
task_params = {{ selective-copy = {{ n_tokens = 2 }} }}
train_examples = 32
""", encoding="utf-8")
    return str(path)


def test_a_mad_suite_run_reports_and_plots_its_score(tmp_path, capsys):
    code = main(["run", "--suite", _suite(tmp_path), "--out", str(tmp_path / "runs"), "-q"])
    out = capsys.readouterr().out
    assert code == 0
    assert "MAD score · test accuracy" in out and "associative-recall · the configuration chosen" in out
    assert "measured and published" in out  # the transformer has a published row
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "config.json").read_text())["protocol"] == "mad"
    from seqbench.runs.info import load_run_info

    run = load_run_info(run_dir)
    assert run.kind == "mad" and len(run.results) == 2 * 4 * 3  # cells × lr·wd × settings
    assert main(["report", str(run_dir)]) == 0
    assert "MAD score" in capsys.readouterr().out
    pytest.importorskip("matplotlib")
    assert main(["plot", str(run_dir), "--kind", "mad", "-o", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots" / "mad.png").is_file()


def test_mad_plots_and_protocols_refuse_what_does_not_apply(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import seqbench
    from conftest import TINY

    plain = seqbench.run(["lstm"], ["adding"], [6], out=tmp_path / "plain", **TINY).attrs["run_dir"]
    capsys.readouterr()  # the run's own warnings (a busy machine)
    assert main(["plot", str(plain), "--kind", "mad"]) == 2
    err = capsys.readouterr().err
    assert "is not a MAD run (seqbench run --suite mad)" in err and len(err.strip().splitlines()) == 1
    assert main(["run", "--suite", _suite(tmp_path, "madd"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "unknown protocol 'madd'; use one of mad" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["mad", "mad-full"])
def test_the_mad_suites_follow_the_protocol(name):
    from seqbench.spec.suite import load_suite, suite_protocol

    _, configs = load_suite(name)
    assert suite_protocol(name) == "mad"
    assert {t for c in configs for t in c.tasks} == set(MAD_TASKS)
    for config in configs:
        assert len(config.lr) == 3 and config.weight_decay == [0.0, 0.1]  # MAD's 3 × 2 grid
        assert config.train_examples and not config.tune  # finite sets; the MAD score does the selecting
    if name == "mad-full":  # MAD's baseline in-context recall setting and its epochs
        first = configs[0]
        assert (first.tasks, first.lengths, first.train_examples, first.steps, first.batch) == \
            (["in-context-recall"], [128], 12800, 200 * 12800 // 128, 128)
        assert first.lr == [1e-4, 5e-4, 1e-3]


@pytest.mark.parametrize("name", ["mad", "mad-full"])
def test_the_mad_suites_validate_against_the_registry_once_the_tasks_exist(name):
    from seqbench.plugins.registry import Registry
    from seqbench.runs.runner import plan
    from seqbench.spec.suite import load_suite

    registry = Registry()
    absent = [t for t in MAD_TASKS if t not in registry.tasks]
    if absent:
        pytest.skip(f"MAD tasks not registered yet: {', '.join(absent)}")
    _, configs = load_suite(name)
    if name == "mad-full":  # a GPU suite: only its plan's shape, without solving widths
        configs = configs[:1]
    trials, _ = plan(configs, registry)
    assert trials
