"""Tests that guard the evaluation protocol (issue 24): held-out sets drawn once per task and
length, apart from each other, whatever the batch size and the device; large enough to measure
the baseline; the baseline measured on them; ``steps_to_solve`` only for a solve on test; the
solved rate over every seed; a durable results log; the adding task's full marker range."""
from __future__ import annotations

import math
import os

import pandas as pd
import pytest
import torch

import seqbench
from seqbench.plugins.factories import build_task
from seqbench.plugins.registry import Registry
from seqbench.reporting.run_tables import summarize
from seqbench.store import log as rowlog
from seqbench.tasks import base
from seqbench.tasks.adding import AddingTask
from seqbench.tasks.base import EVAL_SEED, TEST_SEED, measured_baseline, reference_rows
from seqbench.train.loop import EvalSet

DRAWN = ["adding", "copy", "selective-copy", "associative-recall", "markov"]  # drawn from seeds (not charlm)


def _task(name, length=24):
    return build_task(Registry().get("task", name), length, {})


def _examples(batches):
    x = torch.cat([b[0] for b in batches])
    return x.reshape(x.shape[0], -1)


# --------------------------------------------------------------------------- held-out sets


@pytest.mark.parametrize("name", DRAWN)
def test_validation_and_test_sets_are_disjoint_draws(name):
    """The test set comes from its own seed: no test example repeats a validation one."""
    assert TEST_SEED != EVAL_SEED
    task = _task(name)
    val, test = _examples(task.eval_batches(256, 64, "cpu")), _examples(task.test_batches(256, 64, "cpu"))
    assert val.shape == test.shape == (256, val.shape[1])
    same = (val.unsqueeze(1) == test.unsqueeze(0)).all(dim=-1)  # every validation × test pair
    assert not same.any()


def test_charlm_splits_are_disjoint():
    task = _task("charlm", 32)
    (_, train_end), (val_lo, val_hi), (test_lo, _) = (task.splits[s] for s in ("train", "val", "test"))
    assert train_end <= val_lo < val_hi <= test_lo


@pytest.mark.parametrize("name", DRAWN + ["charlm"])
def test_held_out_sets_do_not_depend_on_the_batch_size(name):
    task = _task(name, 32)
    for draw in (task.eval_batches, task.test_batches):
        small, large = draw(200, 32, "cpu"), draw(200, 64, "cpu")
        assert [x.shape[0] for x, _ in small] == [32] * 6 + [8] and [x.shape[0] for x, _ in large] == [64] * 3 + [8]
        assert torch.equal(_examples(small), _examples(large))
        assert torch.equal(torch.cat([y for _, y in small]), torch.cat([y for _, y in large]))


def test_held_out_sets_are_drawn_on_the_cpu_whatever_the_device(monkeypatch):
    """Drawn with a CPU generator and only then moved: a request for another device (here the
    meta device, which holds no data) never reaches ``sample``; the CPU draw is the reference."""
    task = _task("adding")
    reference = task.eval_batches(100, 64, "cpu")
    devices = []
    original = AddingTask.sample

    def sample(self, batch_size, generator, device):
        devices.append((str(device), generator.device.type))
        return original(self, batch_size, generator, device)

    monkeypatch.setattr(AddingTask, "sample", sample)
    moved = task.eval_batches(100, 64, torch.device("meta"))
    assert devices and set(devices) == {("cpu", "cpu")}
    assert [x.device.type for x, _ in moved] == ["meta", "meta"] and [x.shape for x, _ in moved] == [
        x.shape for x, _ in reference]
    x, y = task.held_out(EVAL_SEED, 100)
    assert torch.equal(x, torch.cat([b[0] for b in reference])) and torch.equal(y, torch.cat([b[1] for b in reference]))


def test_evaluation_sets_through_the_api_do_not_depend_on_the_batch(tmp_path):
    """Through ``seqbench.run`` on the CPU: an untrained model (lr 1e-30: Adam moves no weight) scores
    the same validation and test loss at batch 32 and 64; drawn batch by batch, they differed."""
    frames = [seqbench.run("gru", "adding", [12], steps=1, hidden=8, batch=batch, lr=1e-30, device="cpu",
                           eval_examples=300, out=tmp_path / str(batch)) for batch in (32, 64)]
    for column in ("loss", "val_loss"):
        assert frames[0][column].iloc[0] == pytest.approx(frames[1][column].iloc[0], rel=1e-5)
    assert frames[0]["loss"].iloc[0] != pytest.approx(frames[0]["val_loss"].iloc[0], rel=1e-3)


def test_eval_set_head_and_whole_set():
    task = _task("adding")
    whole = EvalSet.draw(task, 1000, 64, "cpu")
    assert whole.examples == 1000
    head = whole.head(300)
    assert head.examples == 300 and torch.equal(_examples(head.batches), _examples(whole.batches)[:300])


# --------------------------------------------------------------------------- sizes and baselines


def test_constant_predictor_on_adding_lands_within_two_percent_of_a_sixth():
    """Acceptance (issue 24): "always predict 1" on the default test set (T = 100)."""
    task = AddingTask(100)
    assert task.held_out_size() >= 14_000
    _, y = task.held_out(TEST_SEED)
    constant = float(((y - 1.0) ** 2).mean())
    assert constant == pytest.approx(1 / 6, rel=0.02)
    assert measured_baseline(task) == pytest.approx(constant, rel=1e-5)


@pytest.mark.parametrize("length", [10, 100, 1000])
def test_adding_default_sets_measure_the_baseline_to_one_percent(length):
    task = AddingTask(length)
    for seed in (EVAL_SEED, TEST_SEED):
        _, y = task.held_out(seed)
        squared = (y.double() - 1.0) ** 2
        assert squared.std().item() / math.sqrt(len(squared)) <= 0.0101 * squared.mean().item()


@pytest.mark.parametrize("name", DRAWN + ["charlm"])
def test_measured_baseline_matches_the_analytic_one(name):
    """Each task's trivial baseline, measured on its test set: equal to the analytic loss where
    the baseline's loss is the same on every example, near it otherwise (adding, charlm)."""
    task = _task(name, 40)
    measured = measured_baseline(task)
    assert measured is not None
    assert measured == pytest.approx(task.baseline, rel=0.03 if name in ("adding", "charlm") else 1e-5)  # 3 SE
    info = task.describe()
    assert info["baseline_measured"] == pytest.approx(measured) and info["held_out_examples"] >= 1024


def test_reference_rows_show_the_measured_baseline_and_one_value_kept():
    rows = dict(reference_rows(AddingTask(20).describe()))
    assert rows["(one value kept)"] == pytest.approx(1 / 12)
    assert rows["(baseline on test)"] == pytest.approx(1 / 6, rel=0.02)
    assert reference_rows({}) == [] and reference_rows({"baseline": 0.5, "baseline_measured": 0.5}) == []


def test_one_value_kept_scores_a_twelfth():
    """The second reference, measured: the first marked value plus 1/2."""
    x, y = AddingTask(50).held_out(TEST_SEED)
    first = x[:, :25, 0][x[:, :25, 1] == 1]
    assert float(((first + 0.5 - y) ** 2).mean()) == pytest.approx(1 / 12, rel=0.03)


def test_run_records_and_shows_the_measured_baseline_and_the_second_reference(tmp_path):
    """config.json's task description holds the baseline measured on the test set; the run's
    table shows it and the "one value kept" reference under the analytic baseline."""
    import json

    from seqbench.reporting.run_tables import to_markdown

    frame = seqbench.run("gru", "adding", [10], steps=2, hidden=4, batch=8, eval_examples=16, out=tmp_path)
    tasks = json.loads((tmp_path / frame.attrs["run_dir"] / "config.json").read_text())["tasks"]
    info = tasks["adding|10"]
    assert info["baseline"] == pytest.approx(1 / 6) and info["baseline_measured"] == pytest.approx(1 / 6, rel=0.02)
    assert info["references"] == {"one value kept": pytest.approx(1 / 12)}
    lines = to_markdown(frame, task_info=tasks).splitlines()
    labels = [next(c.strip() for c in line.strip("|").split("|") if c.strip()) for line in lines
              if line.startswith("|") and "(" in line.split("|")[1] + line.split("|")[2]]
    assert labels == ["(baseline)", "(baseline on test)", "(one value kept)"]


# --------------------------------------------------------------------------- periodic evaluation


class _Spec:
    def __init__(self, **kw):
        self.__dict__.update(dict(seed=0, lr=1e-3, steps=4, budget_s=None, batch=8, clip=1.0, log_every=2,
                                  eval_every=2, patience=None, stop_when_solved=False, quick_eval=None) | kw)


@pytest.mark.parametrize("quick, seen", [(None, 500), (100, 100)])
def test_periodic_evaluation_uses_the_whole_validation_set_unless_told(monkeypatch, quick, seen):
    from seqbench.models.model import build_model
    from seqbench.train import loop

    task = _task("adding", 10)
    model = build_model(task, Registry().get("cell", "gru"), 4, 1, 0.0, {})
    eval_set = EvalSet.draw(task, 500, 8, "cpu")
    sizes = []
    original = loop.evaluate

    def counting(model, task, data):
        sizes.append(data.examples)
        return original(model, task, data)

    monkeypatch.setattr(loop, "evaluate", counting)
    loop.train(model, task, _Spec(quick_eval=quick), torch.device("cpu"), eval_set)
    assert sizes == [seen, seen]


@pytest.mark.parametrize("steps, quick, patience, kept", [(4, None, None, True), (5, None, None, False),
                                                           (4, 100, None, False), (4, None, 1, True)])
def test_final_validation_reuses_the_last_evaluation_only_of_the_final_model(steps, quick, patience, kept):
    """The final validation numbers come from the last periodic evaluation only when it saw the final
    weights on the whole validation set, and equal a fresh evaluation bit for bit."""
    from seqbench.models.model import build_model
    from seqbench.train import loop

    task = _task("adding", 10)
    model = build_model(task, Registry().get("cell", "gru"), 4, 1, 0.0, {})
    eval_set = EvalSet.draw(task, 500, 8, "cpu")
    outcome = loop.train(model, task, _Spec(steps=steps, quick_eval=quick, patience=patience),
                         torch.device("cpu"), eval_set)
    if patience is not None and outcome.best_step != outcome.steps:
        kept = False  # restored to an earlier evaluation's weights
    assert (outcome.final_eval is not None) == kept
    if kept:
        assert outcome.final_eval == loop.evaluate(model, task, eval_set)


# --------------------------------------------------------------------------- steps_to_solve


def test_steps_to_solve_is_unset_for_a_seed_that_fails_on_test(tmp_path, monkeypatch):
    """Validation met the criterion during training, the (poisoned) test set does not: no solve,
    so no ``steps_to_solve``. The same trial on a clean test set keeps it."""
    from fixtures.poisoned_test import PoisonableAdding

    monkeypatch.setattr(PoisonableAdding, "solved_threshold", 10.0)  # any model meets it on validation
    common = dict(steps=4, eval_every=2, hidden=4, batch=8, eval_examples=16, plugins=["fixtures.poisoned_test"])
    poisoned = seqbench.run("gru", "poisonable", [8], task_params={"poisonable": {"poison": True}},
                            out=tmp_path / "poisoned", **common)
    clean = seqbench.run("gru", "poisonable", [8], out=tmp_path / "clean", **common)
    assert not bool(poisoned["solved"].iloc[0]) and pd.isna(poisoned["steps_to_solve"].iloc[0])
    assert bool(clean["solved"].iloc[0]) and clean["steps_to_solve"].iloc[0] == 2


# --------------------------------------------------------------------------- solved rate


def test_solved_rate_counts_a_diverged_seed_as_unsolved():
    rows = [dict(trial=f"a|t|5|{i}", cell="a", task="t", length=5, seed=i, params=10, loss=loss, solved=solved,
                 baseline=1.0, status=status)
            for i, (loss, solved, status) in enumerate([(0.001, True, "ok"), (0.002, True, "ok"),
                                                        (math.nan, False, "diverged")])]
    record = summarize(pd.DataFrame(rows)).iloc[0]
    assert record["seeds"] == 3 and record["solved"] == pytest.approx(2 / 3)
    assert record["loss"] == pytest.approx(0.0015)  # the loss is over the seeds that finished


# --------------------------------------------------------------------------- results log


def test_every_append_is_synced_to_disk_after_its_write(tmp_path, monkeypatch):
    events = []
    write, datasync, fsync = rowlog.write_whole, getattr(os, "fdatasync", None), os.fsync

    def recording_write(fd, data):
        events.append("write")
        return write(fd, data)

    def recording_sync(original):
        def sync(fd):
            events.append("sync")
            return original(fd)
        return sync

    monkeypatch.setattr(rowlog, "write_whole", recording_write)
    if datasync is not None:
        monkeypatch.setattr(os, "fdatasync", recording_sync(datasync))
    monkeypatch.setattr(os, "fsync", recording_sync(fsync))
    log = rowlog.RowLog(tmp_path / "results.csv")
    rows = []
    for i in range(3):
        row = {"trial": f"t{i}", "loss": 0.1 * i}
        log.append(row, rows)
        rows.append(row)
    log.close()
    assert events == ["write", "sync"] * 3
    assert (tmp_path / "results.csv").read_text().count("\n") == 4


# --------------------------------------------------------------------------- adding's markers


@pytest.mark.parametrize("length", [2, 3, 9, 10])
def test_adding_markers_reach_every_allowed_position(length):
    """One marker in each half, each anywhere in it: the second one reaches the last step."""
    task = AddingTask(length)
    x, y = task.sample(4000, torch.Generator().manual_seed(0), "cpu")
    markers = x[..., 1]
    half = length // 2
    assert torch.equal(markers[:, :half].sum(1), torch.ones(4000)) and torch.equal(markers[:, half:].sum(1),
                                                                                    torch.ones(4000))
    assert set(markers[:, :half].argmax(1).tolist()) == set(range(half))
    assert set((half + markers[:, half:].argmax(1)).tolist()) == set(range(half, length))
    assert torch.allclose(y, (x[..., 0] * markers).sum(1))


def test_inference_is_timed_at_the_training_batch_not_the_evaluation_slice(tmp_path, monkeypatch):
    from seqbench.train import measure

    def one_second(fn, device):  # runs the timed call once and says it took a second
        fn()
        return 1.0, 0.0

    monkeypatch.setattr(measure, "median_seconds", one_second)
    frame = seqbench.run("gru", "adding", [10], steps=2, hidden=4, batch=8, eval_examples=500, out=tmp_path)
    assert frame["infer_tok_s"].iloc[0] == pytest.approx(8 * 10)  # 8 examples × 10 steps per (fake) second
