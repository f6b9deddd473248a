"""seqbench inspect: gradient flow and gates on tiny models, checked against autograd and the gate equations."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import seqbench
from seqbench import cli
from seqbench.models.checkpoint import load_checkpoint, rebuild_model, save_checkpoint
from seqbench.spec.config import TrialSpec
from seqbench.errors import PluginError, UsageError
from seqbench.inspect import (figure_svg, gate_figure, gradient_figure, gradient_flow, inspect_run, record_gates, run_figures, summarize, summarize_gates)
from seqbench.inspect.gates import cell_internals, headline, reference_model
from seqbench.inspect.gradients import fit_slope, measure, step_gradients
from seqbench.models.model import build_model
from seqbench.plugins.registry import Registry
from seqbench.tasks.adding import AddingTask
from seqbench.tasks.base import Task

T = 12
PLUGIN = "fixtures.inspect_cell"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny run with --save: the fused cells and lstm-ref on adding, T=12."""
    frame = seqbench.run(cells=["lstm", "gru", "rnn", "gru-ref"], tasks=["adding"], lengths=[T], hidden=8, batch=8,
                         steps=12, eval_every=6, eval_examples=16, save=True,
                         out=tmp_path_factory.mktemp("inspect") / "results")
    assert (frame["status"] == "ok").all()
    return Path(frame.attrs["run_dir"])


def ckpt(run_dir, cell):
    return run_dir / "checkpoints" / f"{cell}-adding-{T}-0.pt"


def twins(kind, hidden=6, layers=1, seed=3):
    """A fused cell's model and its reference twin with the same weights, in float64."""
    registry, task = Registry(), AddingTask(T)
    torch.manual_seed(seed)
    fused = build_model(task, registry.get("cell", kind), hidden, layers, 0.0).double().eval()
    ref = build_model(task, registry.get("cell", f"{kind}-ref"), hidden, layers, 0.0, {"mode": "eager"}).double()
    ref.load_state_dict(fused.state_dict())
    return fused, ref.eval(), task


def batch(task, size=5):
    x, y = task.sample(size, torch.Generator().manual_seed(7), "cpu")
    return x.double(), y.double()


# --------------------------------------------------------------------------- gradients: numbers


@pytest.mark.parametrize("kind,layers", [("rnn", 1), ("lstm", 1), ("gru", 1), ("lstm", 2)])
def test_reference_input_gradients_equal_autograd_on_the_fused_cells(kind, layers):
    fused, ref, task = twins(kind, layers=layers)
    x, y = batch(task)
    x_fused = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(task.loss(fused(x_fused)[0], y), x_fused)  # plain autograd, fused kernel
    g_ref, t_star = step_gradients(ref, task, x, y)
    g_fused, _ = step_gradients(fused, task, x, y)
    assert t_star == T - 1  # adding reads its loss at the last step only
    assert expected.abs().max() > 0
    torch.testing.assert_close(g_ref, expected, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(g_fused, expected, rtol=1e-10, atol=1e-14)


class ReadAtStep(Task):
    """Adding's inputs, with the loss read at step ``at`` (and nothing after it)."""

    input_kind, input_size, output_size = "continuous", 2, 1

    def __init__(self, length, at):
        super().__init__(length)
        self.at, self.inner = at, AddingTask(length)

    def sample(self, batch_size, generator, device):
        return self.inner.sample(batch_size, generator, device)

    def loss(self, out, y):
        return (out[:, self.at, 0] - y).pow(2).mean() + 0 * out.sum()  # later steps in the graph, gradient 0


def test_the_loss_is_restricted_to_the_final_scored_step():
    fused, _, _ = twins("lstm")
    task = ReadAtStep(T, at=5)
    x, y = (t.double() for t in task.eval_batches(64, 64, "cpu")[0])  # the batch ``measure`` draws
    g, t_star = step_gradients(fused, task, x, y)
    assert t_star == 5
    assert (g[:, 6:] == 0).all() and (g[:, :6].abs().sum((0, 2)) > 0).all()  # causal: nothing after t*
    frame = measure([seqbench.inspect.gradients.Subject("lstm", "init", fused, 6)], task, "read5")
    assert frame["distance"].tolist() == list(range(1, 7))
    assert frame["grad_norm"].iloc[0] == pytest.approx(g[:, 5].norm().item(), rel=1e-12)
    assert frame["grad_norm"].iloc[-1] == pytest.approx(g[:, 0].norm().item(), rel=1e-12)


def test_token_task_gradients_are_taken_at_the_embedding_output():
    frame = gradient_flow(["gru"], "copy", 6, hidden=8, batch=4)
    copy_steps = 6 + 20  # copy scores every one of its T + 20 steps: the last one is read
    assert frame["distance"].tolist() == list(range(1, copy_steps + 1))
    assert (frame["grad_norm"] > 0).all() and frame["grad_norm"].map(math.isfinite).all()


def test_gradient_flow_frame_and_summary():
    frame = gradient_flow(["rnn", "lstm", "transformer"], "adding", T, hidden=8, batch=8)
    assert list(frame.columns) == ["cell", "source", "task", "length", "hidden", "params", "distance", "grad_norm"]
    assert len(frame) == 3 * T
    for _, group in frame.groupby("cell"):
        assert group["distance"].tolist() == list(range(1, T + 1))
    assert (frame["grad_norm"] > 0).all() and frame["grad_norm"].map(math.isfinite).all()
    assert set(frame["source"]) == {"init"} and set(frame["hidden"]) == {8}
    summary = summarize(frame).set_index("cell")
    assert list(summary.index) == ["rnn", "lstm", "transformer"]
    rnn = frame[frame["cell"] == "rnn"]
    assert summary.loc["rnn", "grad_1"] == rnn["grad_norm"].iloc[0]
    assert summary.loc["rnn", "ratio_T_1"] == pytest.approx(rnn["grad_norm"].iloc[-1] / rnn["grad_norm"].iloc[0])
    slope = torch.tensor(rnn["grad_norm"].tolist(), dtype=torch.float64).log10()
    d = torch.arange(1.0, T + 1, dtype=torch.float64)
    expected = ((d - d.mean()) * (slope - slope.mean())).sum() / ((d - d.mean()) ** 2).sum()
    assert summary.loc["rnn", "slope_log10"] == pytest.approx(expected.item(), rel=1e-9)
    assert summary.loc["rnn", "factor_per_step"] == pytest.approx(10 ** expected.item(), rel=1e-9)


def test_fit_slope_skips_zero_norms_and_needs_two_points():
    assert fit_slope([1, 2, 3, 4], [1.0, 0.1, 0.0, 0.001]) == pytest.approx(-1.0)
    assert math.isnan(fit_slope([1, 2], [1.0, 0.0]))


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = gradient_flow(["lstm"], "adding", T, hidden=8, seed=1)
    b = gradient_flow(["lstm"], "adding", T, hidden=8, seed=1)
    c = gradient_flow(["lstm"], "adding", T, hidden=8, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a["grad_norm"].equals(c["grad_norm"])
    assert set(c["source"]) == {"init, seed 2"}


def test_at_init_the_rnn_gradient_vanishes_faster_than_the_lstm_and_not_the_transformer():
    summary = summarize(gradient_flow(["rnn", "lstm", "transformer"], "adding", 100, params="20k")).set_index("cell")
    assert all(abs(p - 20_000) <= 600 for p in summary["params"])  # ±3 %
    assert summary.loc["rnn", "grad_T"] < summary.loc["lstm", "grad_T"] / 100
    assert summary.loc["rnn", "slope_log10"] < summary.loc["lstm", "slope_log10"] < 0
    assert summary.loc["transformer", "ratio_T_1"] > 1e3 * summary.loc["lstm", "ratio_T_1"]


def test_checkpoints_are_measured_on_their_task_and_length(run_dir):
    path = ckpt(run_dir, "lstm")
    frame = gradient_flow(["gru"], checkpoints=[path], hidden=8)
    assert frame.groupby("source")["distance"].max().to_dict() == {"init": T, str(path): T}
    trained = frame[frame["source"] == str(path)]
    assert set(trained["cell"]) == {"lstm"}
    longer = gradient_flow(checkpoints=[path], length=2 * T)
    assert longer["distance"].max() == 2 * T and set(longer["source"]) == {str(path)}
    with pytest.raises(UsageError, match="does not match the checkpoints' task 'adding'"):
        gradient_flow(task="copy", checkpoints=[path])
    with pytest.raises(UsageError, match="either a hidden size or a parameter budget"):
        gradient_flow(["lstm"], hidden=8, params="20k")


# --------------------------------------------------------------------------- gates: numbers


def replay_lstm(gates, c0):
    c, hs, cs = c0, [], []
    for t in range(gates["input"].shape[1]):
        c = gates["forget"][:, t] * c + gates["input"][:, t] * gates["candidate"][:, t]
        cs.append(c)
        hs.append(gates["output"][:, t] * torch.tanh(c))
    return torch.stack(hs, 1), torch.stack(cs, 1)


def replay_gru(gates, h):
    hs = []
    for t in range(gates["update"].shape[1]):
        z = gates["update"][:, t]
        h = (1 - z) * gates["candidate"][:, t] + z * h
        hs.append(h)
    return torch.stack(hs, 1)


@pytest.mark.parametrize("layers", [1, 2])
def test_recorded_lstm_gates_replayed_give_the_fused_cells_output(layers):
    fused, ref, task = twins("lstm", layers=layers)
    x, _ = batch(task)
    gates = cell_internals(Registry(), ref.cell, x)
    assert set(gates) >= {"input", "forget", "candidate", "output", "cell"}
    y = fused.cell(x)[0]
    layer0 = torch.nn.LSTM(2, 6, 1, batch_first=True).double()  # the fused first layer alone
    layer0.load_state_dict({k: v for k, v in fused.cell.rnn.state_dict().items() if k.endswith("_l0")})
    h, c = replay_lstm(gates, x.new_zeros(x.shape[0], 6))
    torch.testing.assert_close(h, layer0(x)[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(c, gates["cell"], rtol=0, atol=1e-12)
    top = {k.split(".", 1)[1]: v for k, v in gates.items() if k.startswith("l1.")} if layers == 2 else gates
    torch.testing.assert_close(replay_lstm(top, x.new_zeros(x.shape[0], 6))[0], y, rtol=0, atol=1e-12)
    for name in ("input", "forget", "output"):
        assert ((gates[name] > 0) & (gates[name] < 1)).all()


def test_recorded_gru_gates_replayed_give_the_fused_cells_output():
    fused, ref, task = twins("gru")
    x, _ = batch(task)
    gates = cell_internals(Registry(), ref.cell, x)
    assert set(gates) == {"reset", "update", "candidate", "hidden"}
    y = fused.cell(x)[0]
    torch.testing.assert_close(replay_gru(gates, x.new_zeros(x.shape[0], 6)), y, rtol=0, atol=1e-12)
    torch.testing.assert_close(gates["hidden"], y, rtol=0, atol=1e-12)


def test_gates_of_a_fused_checkpoint_come_from_its_weights(run_dir):
    path = ckpt(run_dir, "lstm")
    record = record_gates(path, example=3)
    model = rebuild_model(load_checkpoint(path))
    assert model.cell.__class__.__name__ == "FusedRecurrent"
    assert reference_model(load_checkpoint(path), Registry()).cell.__class__.__name__ == "ReferenceRecurrent"
    assert record.x.shape == (64, T, 2) and record.row == 3 and record.cell == "lstm"
    assert all(v.shape == (64, T, 8) for v in record.gates.values())
    h, _ = replay_lstm({k: v.double() for k, v in record.gates.items()}, torch.zeros(64, 8, dtype=torch.float64))
    with torch.no_grad():
        torch.testing.assert_close(h.float(), model.cell(record.x)[0], rtol=0, atol=1e-5)
    assert record.marked.sum(1).tolist() == [2] * 64  # adding: two marked steps per example


def test_example_n_is_the_same_sequence_whatever_batch_holds_it(run_dir):
    path = ckpt(run_dir, "gru")
    first, later = record_gates(path, example=5), record_gates(path, example=69)
    assert later.row == 5 and not torch.equal(first.x[5], later.x[5])
    assert torch.equal(record_gates(path, example=69).x, later.x)
    task = AddingTask(T)
    held_out = torch.cat([x for x, _ in task.eval_batches(128, 64, "cpu")])
    assert torch.equal(later.x[5], held_out[69])


def test_gate_summary_compares_marked_and_unmarked_steps(run_dir):
    record = record_gates(ckpt(run_dir, "lstm"))
    summary = summarize_gates(record).set_index("gate")
    i = record.gates["input"].double()
    assert summary.loc["input", "marked"] == pytest.approx(i.mean(-1)[record.marked].mean().item())
    assert summary.loc["input", "unmarked"] == pytest.approx(i.mean(-1)[~record.marked].mean().item())
    assert summary.loc["forget", "mean"] == pytest.approx(record.gates["forget"].double().mean().item())
    assert summary.loc["input", "example_mean"] == pytest.approx(i[0].mean().item())
    line = headline(record)
    assert line.startswith(f"input gate: {summary.loc['input', 'marked']:.3f} at the marked steps vs ")
    assert "forget gate" in line
    assert headline(record_gates(ckpt(run_dir, "gru"))).startswith("1 − update gate: ")


def test_a_reference_checkpoint_is_used_as_it_is(run_dir):
    record = record_gates(ckpt(run_dir, "gru-ref"))
    assert record.cell == "gru-ref" and set(record.gates) == {"reset", "update", "candidate", "hidden"}


# --------------------------------------------------------------------------- plugin cells through the hook


def plugin_checkpoint(tmp_path, cell="leaky-gate"):
    registry = Registry([PLUGIN])
    task = AddingTask(T)
    torch.manual_seed(0)
    model = build_model(task, registry.get("cell", cell), 5, 1, 0.0)
    spec = TrialSpec(cell=cell, task="adding", length=T, seed=0, steps=1, budget_s=None, hidden=5, layers=1,
                     batch=8, lr=1e-3)
    return save_checkpoint(tmp_path / f"{cell}.pt", model, spec, task, {}), registry, model


def test_a_plugin_cell_exposes_its_gates_through_the_hook(tmp_path, capsys):
    path, registry, model = plugin_checkpoint(tmp_path)
    record = record_gates(path, registry=registry)
    assert set(record.gates) == {"gate", "candidate", "hidden"}
    a, n = record.gates["gate"].double(), record.gates["candidate"].double()
    h, hs = torch.zeros(64, 5, dtype=torch.float64), []
    for t in range(T):
        h = (1 - a[:, t]) * h + a[:, t] * n[:, t]
        hs.append(h)
    with torch.no_grad():
        torch.testing.assert_close(torch.stack(hs, 1).float(), model.cell(record.x)[0], rtol=0, atol=1e-5)
    figure = tmp_path / "leaky.png"
    assert cli.main(["inspect", "gates", str(path), "-p", PLUGIN, "-o", str(figure)]) == 0
    assert figure.stat().st_size > 0
    assert "gate" in capsys.readouterr().out
    titles = [ax.get_title(loc="left") for ax in gate_figure(record).axes if ax.images]
    assert titles == ["gate", "candidate g", "hidden state h"]


def test_a_plugin_answering_with_a_wrong_shape_is_named(tmp_path, capsys):
    path, registry, _ = plugin_checkpoint(tmp_path, "leaky-gate-bad")
    with pytest.raises(PluginError, match=f"plugin '{PLUGIN}': seqbench_inspect_cell must return"):
        record_gates(path, registry=registry)
    assert cli.main(["inspect", "gates", str(path), "-p", PLUGIN]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --------------------------------------------------------------------------- figures


def test_gradient_figure_one_line_per_cell_and_source(run_dir):
    frame = gradient_flow(["rnn", "transformer"], checkpoints=[ckpt(run_dir, "lstm")], hidden=8)
    fig = gradient_figure(frame)
    (ax,) = fig.axes
    assert len(ax.lines) == 3 and ax.get_yscale() == "log"
    assert "distance" in ax.get_xlabel() and "steps" in ax.get_xlabel()
    assert "gradient norm" in ax.get_ylabel()
    assert ax.get_title() == f"Gradient flow · adding · T={T} · hidden 8 · seed 0"
    labels = [line.get_label() for line in ax.lines]
    assert labels[0].startswith("rnn (at init)") and labels[2].startswith("lstm (trained, lstm-adding-12-0.pt)")
    assert len({line.get_color() for line in ax.lines}) == 3
    svg = figure_svg(fig)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_gate_figure_one_heat_map_per_gate(run_dir):
    record = record_gates(ckpt(run_dir, "lstm"))
    fig = gate_figure(record)
    maps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title(loc="left") for ax in maps] == ["input gate i", "forget gate f", "candidate g",
                                                         "output gate o", "cell state c", "hidden state h"]
    assert maps[-1].get_xlabel().startswith("time step t") and all("unit" in ax.get_ylabel() for ax in maps)
    assert maps[0].images[0].get_array().shape == (8, T)  # units × time
    (title,) = [text.get_text() for text in fig.texts]
    assert title.startswith(f"lstm gates · adding · T={T} · ") and "params" in title and "example 0" in title


# --------------------------------------------------------------------------- run directories


def test_inspect_run_writes_csv_and_figures_for_every_checkpoint(run_dir):
    paths = inspect_run(run_dir)
    assert [p.name for p in paths] == ["gradients.csv", "gradients-summary.csv", f"gradients-adding-{T}.png"]
    assert all(p.is_file() and p.parent == run_dir / "inspect" for p in paths)
    frame = pd.read_csv(paths[0])
    sources = frame.groupby("cell")["source"].unique().map(sorted).to_dict()
    assert sources == {c: sorted(["init", f"checkpoints/{c}-adding-{T}-0.pt"]) for c in ("lstm", "gru", "rnn", "gru-ref")}
    init = frame[frame["source"] == "init"]
    again = gradient_flow(["lstm"], "adding", T, hidden=8)  # the run's init: same cell, width, seed
    assert init[init["cell"] == "lstm"]["grad_norm"].tolist() == pytest.approx(again["grad_norm"].tolist(), rel=1e-12)
    assert len(pd.read_csv(paths[1])) == 8
    figures = run_figures(run_dir)
    assert list(figures) == [f"gradients-adding-{T}.png"] and len(figures[paths[2].name].axes[0].lines) == 8


def test_inspect_run_without_checkpoints_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no checkpoints"):
        inspect_run(tmp_path)


# --------------------------------------------------------------------------- the commands


def test_cli_gradients_prints_the_table_and_writes_csv_and_figure(tmp_path, capsys):
    png, csv = tmp_path / "g.png", tmp_path / "g.csv"
    assert cli.main(["inspect", "gradients", "--cells", "rnn,lstm", "--length", "10", "--hidden", "8",
                     "-o", str(png), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "Gradient flow · adding · T=10 · hidden 8" in out and "rnn" in out and "lstm" in out
    frame = pd.read_csv(csv)
    assert len(frame) == 20 and png.stat().st_size > 0


def test_cli_gates_prints_summary_and_headline(run_dir, tmp_path, capsys):
    csv = tmp_path / "gates.csv"
    assert cli.main(["inspect", "gates", str(ckpt(run_dir, "lstm")), "--example", "2", "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "input gate: " in out and "example 2" in out
    assert list(pd.read_csv(csv)["gate"]) == ["input", "forget", "candidate", "output", "cell", "hidden"]


@pytest.mark.parametrize("argv,message", [
    (["gradients", "--cells", "lstn"], "unknown cell 'lstn' (did you mean 'lstm'?)"),
    (["gradients", "--task", "adding2"], "unknown task 'adding2' (did you mean 'adding'?)"),
    (["gradients", "--length", "0"], "length must be a positive integer"),
    (["gradients", "--seed", "x"], "seed must be an integer >= 0"),
    (["gradients", "--hidden", "8", "--params", "20k"], "either a hidden size or a parameter budget"),
    (["gradients", "--cells", "rnn", "-o", "figure.txt"], "must end in .png, .svg, .pdf"),
    (["gradients", "missing.pt"], "checkpoint missing.pt does not exist"),
    (["gates", "missing.pt"], "checkpoint missing.pt does not exist"),
    (["gates", "RNN", "--example", "-1"], "example must be an integer >= 0"),
    (["gates", "RNN"], "cell 'rnn' exposes no gates"),
])
def test_cli_bad_input_is_one_line_and_exit_2(run_dir, argv, message, capsys):
    argv = [str(ckpt(run_dir, "rnn")) if a == "RNN" else a for a in argv]
    assert cli.main(["inspect", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_without_matplotlib_figures_say_how_to_install_and_tables_still_work(run_dir, tmp_path, capsys,
                                                                              monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    png, csv = tmp_path / "g.png", tmp_path / "g.csv"
    assert cli.main(["inspect", "gradients", "--cells", "rnn", "--length", "6", "--hidden", "4", "-o", str(png)]) == 2
    err = capsys.readouterr().err
    assert "pip install 'seqbench[plots]'" in err and len(err.strip().splitlines()) == 1 and not png.exists()
    assert cli.main(["inspect", "gradients", "--cells", "rnn", "--length", "6", "--hidden", "4", "--csv", str(csv)]) == 0
    assert len(pd.read_csv(csv)) == 6
    with pytest.raises(UsageError, match=r"pip install 'seqbench\[plots\]'"):
        inspect_run(run_dir)
    assert [p.name for p in inspect_run(run_dir, figures=False)] == ["gradients.csv", "gradients-summary.csv"]


def test_inspect_help_is_cheap():
    from conftest import run_process

    code = "import sys, seqbench.cli as c; c.build_parser(); print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = run_process([sys.executable, "-c", code], timeout=120).stdout
    assert out.split() == ["False", "False"]


def test_run_inspect_writes_the_gradient_flow_of_each_trained_model(tmp_path, capsys):
    from seqbench.cli import main

    code = main(["run", "--cells", "gru,rnn", "--tasks", "adding", "--lengths", "6", "--hidden", "8", "--steps", "4",
                 "--eval-every", "2", "--inspect", "-q", "--out", str(tmp_path)])
    assert code == 0
    run_dir = next(tmp_path.iterdir())
    assert len(list((run_dir / "checkpoints").glob("*.pt"))) == 2
    written = sorted(p.name for p in (run_dir / "inspect").iterdir())
    assert any(name.endswith(".png") for name in written) and "gradients.csv" in written
    import pandas as pd

    grads = pd.read_csv(run_dir / "inspect" / "gradients.csv")
    assert set(grads["cell"]) >= {"gru", "rnn"} and grads["grad_norm"].notna().all()
    assert "inspect:" in capsys.readouterr().err
    page = tmp_path / "report.html"
    assert main(["report", str(run_dir), "--format", "html", "-o", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "inspect-gradients" in text and text.count("<svg") >= 2  # the gradient flow is in the HTML report
