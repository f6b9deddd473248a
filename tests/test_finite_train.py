"""--train-examples N: a finite training set drawn once from the trial's seed, trained on in
shuffled epochs; validation and test stay separate fixed draws."""
from __future__ import annotations

import pytest

import seqbench
from seqbench.cli import main
from seqbench.errors import UsageError

from conftest import TINY


def _task(length: int = 12):
    from seqbench.tasks.associative_recall import AssociativeRecallTask

    return AssociativeRecallTask(length, pairs=2)


def _rows(x) -> list[tuple]:
    return [tuple(row) for row in x.tolist()]


def _fed_examples(count: int, batch: int, steps: int) -> tuple[list, list]:
    """Train a small model with a finite set; the training set and every input row the model saw
    while training, in order."""
    import torch

    from seqbench.models.model import build_model
    from seqbench.plugins.registry import Registry
    from seqbench.spec.config import TrialSpec
    from seqbench.train.loop import EvalSet, train

    task = _task()
    torch.manual_seed(0)
    model = build_model(task, Registry().cells["lstm"], 8, 1, 0.0)
    seen: list = []
    model.register_forward_pre_hook(lambda module, args: seen.extend(_rows(args[0])) if module.training else None)
    spec = TrialSpec("lstm", "associative-recall", 12, 3, steps=steps, budget_s=None, hidden=8, layers=1, batch=batch,
                     lr=1e-3, eval_every=4, train_examples=count)
    outcome = train(model, task, spec, torch.device("cpu"), EvalSet.draw(task, 16, batch, torch.device("cpu")))
    assert outcome.epochs == steps * batch / count
    return _rows(task.training_set(count, 3)[0]), seen


def test_the_n_examples_are_all_the_model_sees_each_once_per_epoch():
    training_set, seen = _fed_examples(count=40, batch=8, steps=25)  # 200 examples: 5 epochs
    assert len(set(training_set)) == 40  # 40 distinct examples were drawn
    assert set(seen) == set(training_set)  # nothing else was fed, and all of them were
    for epoch in range(5):
        assert sorted(seen[40 * epoch:40 * (epoch + 1)]) == sorted(training_set)  # each exactly once
    assert seen[:40] != seen[40:80]  # reshuffled each epoch


def test_an_epoch_that_does_not_fill_the_last_batch_runs_on_into_the_next():
    training_set, seen = _fed_examples(count=20, batch=8, steps=5)  # 40 examples: 2 epochs, batches cut across
    assert sorted(seen[:20]) == sorted(training_set) and sorted(seen[20:40]) == sorted(training_set)


def test_the_set_and_its_order_depend_on_the_seed_but_not_on_the_batch():
    import torch

    from seqbench.tasks.base import EVAL_SEED, TEST_SEED
    from seqbench.train.examples import FiniteTrainingSet

    task = _task()
    x, y = task.training_set(300, 0)
    again, _ = task.training_set(300, 0)
    assert torch.equal(x, again)
    assert not torch.equal(x, task.training_set(300, 1)[0])
    for seed in (EVAL_SEED, TEST_SEED):  # never the validation or test draws
        assert not torch.equal(x, task.held_out(seed, 300)[0])
    orders = []
    for batch in (6, 25, 300):
        examples = FiniteTrainingSet(x, y, seed=0, device="cpu")
        orders.append(torch.cat([examples.next(batch)[0] for _ in range(1200 // batch)]))
    assert torch.equal(orders[0], orders[1]) and torch.equal(orders[0], orders[2])


def test_a_large_set_is_drawn_in_chunks_independent_of_the_batch():
    import torch

    from seqbench.tasks.base import DRAW_CHUNK

    task = _task()
    big, _ = task.training_set(DRAW_CHUNK + 7, 5)
    assert big.shape[0] == DRAW_CHUNK + 7
    assert torch.equal(big[:DRAW_CHUNK], task.training_set(DRAW_CHUNK, 5)[0])  # the first chunk is the same draw


def test_a_run_records_n_and_epochs_and_zero_streams_as_before(tmp_path):
    plain = seqbench.run(["lstm"], ["adding"], [6], out=tmp_path / "a", **TINY)
    zero = seqbench.run(["lstm"], ["adding"], [6], out=tmp_path / "b", train_examples=0, **TINY)
    finite = seqbench.run(["lstm"], ["adding"], [6], out=tmp_path / "c", train_examples="32,64", **TINY)
    assert list(plain["trial"]) == list(zero["trial"]) and plain["val_loss"].tolist() == zero["val_loss"].tolist()
    assert zero["train_examples"].isna().all() and zero["epochs"].isna().all()
    assert sorted(finite["train_examples"].astype(int)) == [32, 64]
    by_n = dict(zip(finite["train_examples"].astype(int), finite["epochs"]))
    assert by_n == {32: 12 * 16 / 32, 64: 12 * 16 / 64}  # TINY: 12 steps of 16
    assert finite["config_label"].str.contains("train_examples=32").sum() == 1
    assert set(finite["val_loss"]).isdisjoint(plain["val_loss"])


@pytest.mark.parametrize("args, message", [
    (["--train-examples", "10", "--batch", "16"],
     "train_examples=10 is smaller than the batch (16): every batch would repeat examples"),
    (["--train-examples", "-5"], "train_examples must be a number of examples >= 1 (0: a fresh stream), got '-5'"),
    (["--train-examples", "many"], "train_examples must be a number of examples >= 1"),
    (["--train-examples", "2.5"], "train_examples must be a number of examples >= 1"),
])
def test_bad_train_examples_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    code = main(["run", "--out", str(tmp_path), "--cells", "lstm", "--dry-run", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_set_smaller_than_the_batch_is_refused_before_anything_trains(tmp_path):
    with pytest.raises(UsageError, match="use --batch 8 or fewer"):
        seqbench.run(["lstm"], ["adding"], [6], out=tmp_path, train_examples=8, **TINY)
    assert not any(tmp_path.iterdir())  # no run folder was made
