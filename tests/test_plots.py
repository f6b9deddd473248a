"""Every plot kind from a small real run and a tiny speed run: files exist and are non-empty,
axes carry the expected labels, one line (or point) per cell in the cell's colour; without
matplotlib, one line naming the extra and exit 2."""
from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from seqbench.reporting import plots
from seqbench.cli import main
from seqbench.train.curves import load_curves
from seqbench.runs.info import load_run_info


CELLS = ["rnn", "gru"]


def cell_lines(ax, cells):
    """The lines of ``ax`` labelled with a cell name (an error-bar plot's data line), by label."""
    out = {line.get_label(): line for line in ax.get_lines() if line.get_label() in cells}
    out.update({c.get_label(): c.lines[0] for c in ax.containers if c.get_label() in cells})
    return out


def test_learning_curves(small_run):
    fig = plots.learning_curves(load_curves(small_run), "adding", 16, baseline=1 / 6, colors=plots.palette(CELLS),
                                budget="hidden 8")
    by_step, by_time = fig.axes
    assert by_step.get_xlabel() == "training step" and by_time.get_xlabel().startswith("training time (s")
    assert by_step.get_ylabel() == "validation loss"
    lines = cell_lines(by_step, CELLS)
    assert sorted(lines) == sorted(CELLS) and len(cell_lines(by_time, CELLS)) == 2
    assert lines["rnn"].get_color() == plots.OKABE_ITO[0] and lines["gru"].get_color() == plots.OKABE_ITO[1]
    assert list(lines["gru"].get_xdata()) == [20, 40]
    assert any(line.get_label().startswith("baseline") for line in by_step.get_lines())
    assert "adding · T=16 · hidden 8" in fig._suptitle.get_text()


def test_learning_curves_keep_configurations_apart(small_run):
    """Seeds of different configurations of a cell are never pooled into one line: a line per
    cell × configuration, each a mean over its own seeds."""
    curves = load_curves(small_run)
    trials = sorted(set(curves["trial"]))
    configs = {t: ("lr=0.1" if i % 2 else "lr=0.01") for i, t in enumerate(trials)}
    fig = plots.learning_curves(curves, "adding", 16, colors=plots.palette(CELLS), configs=configs)
    labels = {line.get_label() for line in fig.axes[0].get_lines() if " · " in line.get_label()}
    expected = {f"{cell} · {configs[t]}" for t in trials for cell in CELLS if t.startswith(cell + "|")}
    assert labels == expected and len(expected) > len(CELLS)


def test_metric_vs_length_and_pareto(small_run):
    results = load_run_info(small_run).results
    fig = plots.metric_vs_length(results, "adding", "loss", colors=plots.palette(CELLS))
    (ax,) = fig.axes
    assert ax.get_xlabel().startswith("sequence length T") and ax.get_ylabel() == "loss (lower is better)"
    lines = cell_lines(ax, CELLS)
    assert sorted(lines) == sorted(CELLS) and list(lines["rnn"].get_xdata()) == [8, 16]
    fig = plots.pareto(results, "adding", 8, "loss")
    (ax,) = fig.axes
    assert ax.get_xlabel().startswith("training throughput (tokens/s") and len(cell_lines(ax, CELLS)) == 2
    with pytest.raises(Exception, match="two or more lengths"):
        plots.metric_vs_length(results[results["length"] == 8], "adding")


def test_speed_scaling(speed_run):
    run = load_run_info(speed_run)
    fig = plots.speed_scaling(run.results, run.scaling)
    tok, gen, peak = fig.axes
    assert tok.get_yscale() == "log" and tok.get_xscale() == "log"
    assert gen.get_ylabel().startswith("ms per generated token") and peak.get_ylabel().startswith("% of matmul peak")
    labels = [line.get_label() for line in tok.get_lines()]
    assert len(labels) == 4 and all("T^" in label for label in labels)  # train + infer per cell, exponent shown
    assert len(gen.get_lines()) == 2


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_cli_writes_every_figure(small_run, speed_run, tmp_path, capsys, fmt):
    assert main(["plot", small_run, "-o", str(tmp_path / "run"), "--format", fmt]) == 0
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == sorted(f"{n}.{fmt}" for n in ("curves-adding-T8", "curves-adding-T16", "length-adding",
                                                   "pareto-adding-T8", "pareto-adding-T16"))
    assert all((tmp_path / "run" / n).stat().st_size > 1000 for n in names)
    assert main(["plot", speed_run, "--kind", "speed", "-o", str(tmp_path / "speed"), "--format", fmt]) == 0
    assert (tmp_path / "speed" / f"speed.{fmt}").stat().st_size > 1000
    capsys.readouterr()
    assert main(["plot", small_run, "--kind", "speed", "-o", str(tmp_path / "x")]) == 2
    assert "not a seqbench speed run" in capsys.readouterr().err


def test_without_matplotlib_one_line_and_exit_2(small_run, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["plot", small_run]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'seqbench[plots]'" in err
    assert not Path(small_run, "plots").exists()
