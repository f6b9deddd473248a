"""Quality against state size (``seqbench plot RUN --kind state``): one line per cell through its
widths at the state sizes the trials recorded, the mean over seeds, the chance line from the
task's description; degenerate input draws what it can or says in one line why it cannot."""
from __future__ import annotations

import math

import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from seqbench.cli import main
from seqbench.errors import UsageError
from seqbench.reporting.plots import has_state_sweep, metric_vs_state
from seqbench.tasks.associative_recall import AssociativeRecallTask
from seqbench.tasks.selective_copy import SelectiveCopyTask


def rows(points):
    """A results frame of associative-recall at T=16: (cell, hidden, state_floats, seed, accuracy, status)."""
    return pd.DataFrame([{"task": "associative-recall", "length": 16, "cell": c, "hidden": h, "state_floats": s,
                          "seed": seed, "accuracy": a, "status": status} for c, h, s, seed, a, status in points])


def drawn(fig, cell):
    """The (x, y) points of ``cell``'s line."""
    (container,) = [c for c in fig.axes[0].containers if c.get_label() == cell]
    line = container.lines[0]
    return list(line.get_xdata()), list(line.get_ydata())


def test_one_line_per_cell_through_its_state_sizes_mean_over_seeds():
    data = rows([("gru", 8, 16, 0, 0.1, "ok"), ("gru", 8, 16, 1, 0.3, "ok"), ("gru", 16, 32, 0, 0.5, "ok"),
                 ("transformer", 8, 256, 0, 1.0, "ok"), ("transformer", 16, 512, 0, 1.0, "ok")])
    fig = metric_vs_state(data, "associative-recall", 16, chance=1 / 64)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel().startswith("state size")
    xs, ys = drawn(fig, "gru")
    assert xs == [16.0, 32.0] and ys == pytest.approx([0.2, 0.5])
    assert drawn(fig, "transformer")[0] == [256.0, 512.0]
    assert any(line.get_label().startswith("chance 0.0156") for line in ax.get_lines())
    assert {t.get_text() for t in ax.texts} == {"8", "16"}  # each point labelled with its width


def test_of_several_learning_rates_at_a_width_the_one_best_on_validation_gives_the_point():
    data = rows([("gru", 8, 16, 0, 0.9, "ok"), ("gru", 8, 16, 0, 0.2, "ok"), ("gru", 16, 32, 0, 0.5, "ok")])
    data["config_label"] = ["lr=0.01", "lr=0.001", "lr=0.01"]
    data["val_accuracy"] = [0.3, 0.4, 0.5]  # lr=0.001 wins on validation at width 8, though its test is lower
    assert drawn(metric_vs_state(data, "associative-recall", 16), "gru")[1] == [0.2, 0.5]


def test_rows_not_ok_or_nan_are_left_out_and_counted():
    data = rows([("gru", 8, 16, 0, 0.1, "ok"), ("gru", 16, 32, 0, 0.5, "ok"), ("gru", 16, 32, 1, math.nan, "ok"),
                 ("s6", 8, 512, 0, 0.9, "diverged"), ("s6", 16, 1024, 0, 0.9, "ok")])
    left_out: list[str] = []
    fig = metric_vs_state(data, "associative-recall", 16, left_out=left_out)
    assert drawn(fig, "gru") == ([16.0, 32.0], [0.1, 0.5]) and drawn(fig, "s6")[0] == [1024.0]
    assert any("gru" in note and "without a finite" in note for note in left_out)
    assert any("s6" in note and "diverged" in note for note in left_out)


def test_a_single_state_size_per_cell_is_one_line_not_a_traceback():
    data = rows([("gru", 8, 16, 0, 0.1, "ok"), ("s6", 8, 512, 0, 0.2, "ok")])
    assert not has_state_sweep(data, "associative-recall", 16)
    with pytest.raises(UsageError, match="two or more state sizes"):
        metric_vs_state(data, "associative-recall", 16)


def test_chance_accuracy_is_the_uniform_guess_and_recorded():
    assert AssociativeRecallTask(32, value_vocab=16).chance_accuracy == pytest.approx(1 / 16)
    assert math.exp(-AssociativeRecallTask(32, value_vocab=16).baseline) == pytest.approx(1 / 16)
    assert SelectiveCopyTask(32, alphabet=8).describe()["chance_accuracy"] == pytest.approx(1 / 8)


def test_plot_kind_state_from_a_width_sweep(tmp_path, capsys):
    assert main(["run", "--cells", "gru,s6", "--tasks", "associative-recall", "--lengths", "24", "--hidden", "4,8",
                 "--steps", "2", "--eval-every", "2", "--out", str(tmp_path), "-q"]) == 0
    run_dir = next(tmp_path.iterdir())
    capsys.readouterr()
    assert main(["plot", str(run_dir), "--kind", "state"]) == 0
    assert (run_dir / "plots" / "state-associative-recall-T24.png").stat().st_size > 0
    plain = tmp_path / "plain"
    assert main(["run", "--cells", "gru", "--tasks", "associative-recall", "--lengths", "24", "--hidden", "4",
                 "--steps", "2", "--eval-every", "2", "--out", str(plain), "-q"]) == 0
    capsys.readouterr()
    assert main(["plot", str(next(plain.iterdir())), "--kind", "state"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "one state size" in err


def test_titles_name_each_task_own_budget_and_cells_never_share_a_colour():
    """A suite whose parts size models differently (a 20k budget on one task, a width sweep on
    another) titles each task's figures with its own sizing; 14 cells get 14 colours."""
    from seqbench.reporting.plots import _task_budget, palette

    rows = pd.DataFrame([{"task": "selective-copy", "params_budget": 20000, "hidden": 31, "params": 19539},
                         {"task": "associative-recall", "params_budget": math.nan, "hidden": 16, "params": 7521},
                         {"task": "associative-recall", "params_budget": math.nan, "hidden": 32, "params": 34913}])
    assert _task_budget(rows, "selective-copy", "run") == "20,000 params budget"
    assert _task_budget(rows, "associative-recall", "run") == "hidden 16–32 (7,521–34,913 params)"
    cells = [f"cell{i}" for i in range(14)]
    assert len(set(palette(cells).values())) == 14
