"""The Python API: rows, columns, results on disk, isolation, divergence, resume, Ctrl-C."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import seqbench
from seqbench.errors import UsageError
from seqbench.store import RESULTS_CSV

from conftest import TINY


def test_run_returns_one_row_per_trial_and_writes_them(tmp_path):
    frame = seqbench.run(["lstm", "transformer"], ["adding", "copy"], [5, 8], seeds=2, out=tmp_path, **TINY)
    assert len(frame) == 2 * 2 * 2 * 2
    assert set(frame["status"]) == {"ok"}
    run_dir = tmp_path / frame.attrs["run_dir"].split("/")[-1]
    on_disk = pd.read_csv(run_dir / RESULTS_CSV)
    assert list(on_disk.columns) == list(frame.columns)
    assert len(on_disk) == len(frame)
    for column in ("params", "loss", "accuracy", "perplexity", "bits_per_token", "baseline", "solved",
                   "train_tok_s", "infer_tok_s", "peak_mem_mb", "steps", "wall_s", "status"):
        assert column in frame
    assert (frame["steps"] == TINY["steps"]).all()
    assert (frame["train_tok_s"] > 0).all() and (frame["infer_tok_s"] > 0).all()
    copy = frame[frame.task == "copy"]
    assert copy["perplexity"].apply(math.isfinite).all()
    assert copy["perplexity"].to_numpy() == pytest.approx(copy["loss"].map(math.exp).to_numpy())
    assert copy["bits_per_token"].to_numpy() == pytest.approx((copy["loss"] / math.log(2)).to_numpy())
    assert frame[frame.task == "adding"]["perplexity"].isna().all()
    assert frame[frame.task == "copy"]["baseline"].iloc[0] == pytest.approx(10 * math.log(8) / 25)

    config = json.loads((run_dir / "config.json").read_text())
    assert config["configs"][0]["cells"] == ["lstm", "transformer"]
    assert config["metrics"]["accuracy"] is True
    env = json.loads((run_dir / "environment.json").read_text())
    for key in ("seqbench", "torch", "python", "device", "torch_threads", "cpu", "git"):
        assert key in env


def test_same_seed_same_numbers(tmp_path):
    a = seqbench.run("gru", "adding", [6], out=tmp_path / "a", **TINY)
    b = seqbench.run("gru", "adding", [6], out=tmp_path / "b", **TINY)
    c = seqbench.run("gru", "adding", [6], seeds=2, out=tmp_path / "c", **TINY)
    assert a["loss"].iloc[0] == b["loss"].iloc[0]
    assert c["loss"].iloc[0] == a["loss"].iloc[0] and c["loss"].iloc[1] != a["loss"].iloc[0]


def test_failing_cells_are_isolated(tmp_path):
    frame = seqbench.run(["raises-on-build", "lstm", "raises-in-forward", "wrong-shape", "diverges"],
                         "adding", [5], out=tmp_path, plugins=["fixtures.bad_cells"], **{**TINY, "steps": 60})
    status = dict(zip(frame["cell"], frame["status"]))
    assert status["lstm"] == "ok"
    assert status["raises-on-build"] == "error: RuntimeError: boom at build"
    assert status["raises-in-forward"] == "error: RuntimeError: boom in forward"
    assert status["wrong-shape"].startswith("error: PluginError: cell 'wrong-shape' returned output of shape")
    assert status["diverges"] == "diverged"
    diverged = frame[frame.cell == "diverges"].iloc[0]
    assert diverged["steps"] == 20 and not diverged["solved"]  # stopped at the first loss check


def test_unknown_names_and_bad_numbers_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="did you mean 'lstm'"):
        seqbench.run("lsmt", out=tmp_path)
    with pytest.raises(UsageError, match="unknown task 'coppy'.*did you mean 'copy'"):
        seqbench.run("lstm", "coppy", out=tmp_path)
    for kwargs in ({"lengths": [0]}, {"steps": -1}, {"batch": 0}, {"budget": "soon"}, {"lr": "x"},
                   {"seeds": 0}, {"lengths": "5,abc"}, {"device": "tpu"}, {"lengths": [1]}):
        with pytest.raises(UsageError):
            seqbench.run("lstm", "adding", out=tmp_path, **{**TINY, **kwargs})
    assert not any(tmp_path.iterdir()), "no run directory is created for bad input"


def test_budget_stops_training(tmp_path):
    frame = seqbench.run("rnn", "adding", [5], budget=0.3, steps=None, out=tmp_path,
                         **{k: v for k, v in TINY.items() if k != "steps"})
    row = frame.iloc[0]
    assert row["status"] == "ok" and row["steps"] >= 1
    assert 0.3 <= row["train_s"] < 2.0


def test_interrupt_keeps_finished_rows_and_resume_completes(tmp_path):
    with pytest.raises(KeyboardInterrupt) as info:
        seqbench.run(["rnn", "lstm", "gru"], "adding", [5], out=tmp_path,
                     plugins=["fixtures.interrupt_after_first"], **TINY)
    run_dir = str(info.value)
    saved = seqbench.load_run(run_dir)
    assert list(saved["cell"]) == ["rnn"]

    events = []

    class Watch:
        @seqbench.hookimpl
        def seqbench_run_start(self, trials):
            events.append([t.key for t in trials])

    from seqbench.plugins.registry import Registry

    reg = Registry()
    reg.pm.register(Watch())
    frame = seqbench.run(resume=run_dir, registry=reg)
    assert events == [["lstm|adding|5|0", "gru|adding|5|0"]]
    assert list(frame["cell"]) == ["rnn", "lstm", "gru"]
    assert frame.loc[0, "loss"] == saved.loc[0, "loss"]
    assert len(pd.read_csv(f"{run_dir}/{RESULTS_CSV}")) == 3


def test_resume_reruns_errors_but_not_finished_trials(tmp_path):
    frame = seqbench.run(["lstm", "raises-in-forward"], "adding", [5], out=tmp_path,
                         plugins=["fixtures.bad_cells"], **TINY)
    run_dir = frame.attrs["run_dir"]
    again = seqbench.run(resume=run_dir, plugins=["fixtures.bad_cells"])
    assert len(again) == 2  # the error row was replaced, not duplicated
    assert len(pd.read_csv(f"{run_dir}/{RESULTS_CSV}")) == 3  # lstm, error, error again
    with pytest.raises(UsageError, match="not a seqbench run directory"):
        seqbench.run(resume=tmp_path)


def test_lifecycle_hooks_see_every_trial(tmp_path):
    import fixtures.good_plugin as good

    good.EVENTS.clear()
    frame = seqbench.run(["tiny-linear", "rnn"], "copy", [4], out=tmp_path, plugins=["fixtures.good_plugin"], **TINY)
    assert good.EVENTS == [("tiny-linear|copy|4|0", "ok"), ("rnn|copy|4|0", "ok")]
    assert frame["loss_x2"].to_numpy() == pytest.approx(2 * frame["loss"].to_numpy())


def test_training_really_learns():
    """An LSTM gets well below the adding baseline at a short length within a few hundred steps."""
    import torch

    from seqbench.spec.config import TrialSpec
    from seqbench.models.model import build_model
    from seqbench.plugins.registry import Registry
    from seqbench.tasks.adding import AddingTask
    from seqbench.train.loop import EvalSet, evaluate, train

    reg = Registry()
    task = AddingTask(10)
    torch.manual_seed(0)
    model = build_model(task, reg.cells["lstm"], 32, 1, 0.0)
    spec = TrialSpec("lstm", "adding", 10, 0, steps=300, budget_s=None, hidden=32, layers=1, batch=64,
                     lr=1e-2, eval_every=1000)
    data = EvalSet.draw(task, 512, 128, torch.device("cpu"))
    before = evaluate(model, task, data)["loss"]
    outcome = train(model, task, spec, torch.device("cpu"), data)
    after = evaluate(model, task, data)["loss"]
    assert outcome.status == "ok" and outcome.steps == 300
    assert before > 0.1 and after < 0.02


def test_subnormals_are_flushed_on_cpu_unless_kept(tmp_path):
    import torch
    from fixtures import denormal_probe

    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush subnormals (torch.set_flush_denormal)")
    try:
        for flush in (True, False):
            denormal_probe.SEEN.clear()
            frame = seqbench.run(["denormal-probe"], ["adding"], [5], plugins=["fixtures.denormal_probe"],
                                 out=tmp_path, flush_denormal=flush, **TINY)
            assert denormal_probe.SEEN and set(denormal_probe.SEEN) == {flush}  # training, evaluation, timing
            env = json.loads((Path(frame.attrs["run_dir"]) / "environment.json").read_text())
            assert 0.0 <= env["subnormals_flushed"] <= 1.0  # workers started earlier in this process keep their mode
        with pytest.raises(UsageError, match="flush_denormal must be true or false"):
            seqbench.run(["lstm"], ["adding"], [5], out=tmp_path, flush_denormal="yes", **TINY)
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.parametrize("cell", ["lstm", "transformer"])
def test_the_training_adam_is_torch_adam_bit_for_bit(cell):
    import torch

    from seqbench.plugins.factories import build_task
    from seqbench.models.model import build_model
    from seqbench.plugins.registry import Registry
    from seqbench.train.loop import Adam

    registry = Registry()
    task = build_task(registry.get("task", "copy"), 6, {})
    params = []
    for optimizer_class in (torch.optim.Adam, Adam):
        torch.manual_seed(0)
        model = build_model(task, registry.get("cell", cell), 16, 2, 0.0, {})
        optimizer = optimizer_class(list(model.parameters()), lr=3e-3)
        generator = torch.Generator().manual_seed(0)
        for _ in range(8):
            x, y = task.sample(8, generator, torch.device("cpu"))
            loss = task.loss(model(x)[0], y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()), 0.5)
            optimizer.step()
        params.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*params))  # exact, not approximate


def test_a_trial_does_not_import_torch_dynamo(tmp_path):
    import subprocess
    import sys

    code = ("import sys, seqbench; seqbench.run('lstm', 'adding', [5], hidden=8, batch=8, steps=3, eval_every=2, "
            f"eval_examples=8, out={str(tmp_path)!r}); print('torch._dynamo' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"  # 2-4 s of imports a run never needs
