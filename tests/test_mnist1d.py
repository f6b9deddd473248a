"""MNIST-1D (seqbench/tasks/mnist1d.py, seqbench/data/mnist1d.py): the paper's split with a
validation part carved from training, seeding, the shuffled variant, baseline and solved
criterion, the one-line error without the optional package, and the suite's published table.
Tests that build the dataset need the ``mnist1d`` package (``pip install 'seqbench[mnist1d]'``)
and are skipped without it; the dataset is built once per process (a few seconds)."""
from __future__ import annotations

import math
import random
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import seqbench
from seqbench.cli import main
from seqbench.data import mnist1d as data
from seqbench.errors import UsageError
from seqbench.plugins.factories import build_task
from seqbench.plugins.registry import Registry
from seqbench.tasks.base import measured_baseline
from seqbench.tasks.mnist1d import MNIST1DTask


@pytest.fixture(scope="module")
def plain():
    pytest.importorskip("mnist1d")
    return MNIST1DTask(40)


@pytest.fixture(scope="module")
def shuffled():
    pytest.importorskip("mnist1d")
    return MNIST1DTask(40, shuffle_seq=True)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_splits_are_the_papers_with_validation_carved_from_training(plain):
    sizes = {name: tuple(x.shape) for name, (x, _) in plain.splits.items()}
    assert sizes == {"train": (3500, 40, 1), "val": (500, 40, 1), "test": (1000, 40, 1)}
    assert plain.describe()["splits"] == {"train": 3500, "val": 500, "test": 1000}
    assert plain.held_out_size() == 500 and plain.held_out_size(64) == 64
    assert [x.shape[0] for x, _ in plain.test_batches(None, 300, "cpu")] == [300, 300, 300, 100]
    assert sum(x.shape[0] for x, _ in plain.eval_batches(130, 64, "cpu")) == 130
    built = data.load_mnist1d(40)
    assert torch.equal(plain.splits["val"][0].squeeze(-1), torch.as_tensor(built["x"][3500:], dtype=torch.float32))
    assert torch.equal(plain.splits["test"][1], torch.as_tensor(built["y_test"]))
    labels = torch.cat([y for _, y in plain.splits.values()])
    assert torch.bincount(labels, minlength=10).tolist() == [500] * 10  # 500 examples of each digit
    x = torch.cat([x for x, _ in plain.splits.values()])
    assert abs(x.mean().item()) < 1e-5 and x.std().item() == pytest.approx(1.0, abs=1e-3)  # normalized
    smaller = MNIST1DTask(40, val_examples=1000)  # the cached build: no second construction
    assert smaller.splits["train"][0].shape[0] == 3000 and torch.equal(smaller.splits["test"][0], plain.splits["test"][0])


def test_training_batches_are_seeded_and_come_from_the_training_split_only(plain):
    a, b, c = plain.sample(64, gen(7), "cpu"), plain.sample(64, gen(7), "cpu"), plain.sample(64, gen(8), "cpu")
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])
    assert a[0].shape == (64, 40, 1) and a[0].dtype == torch.float32 and a[1].dtype == torch.long
    x, _ = plain.sample(2000, gen(1), "cpu")
    train = plain.splits["train"][0].reshape(3500, 40)
    held_out = torch.cat([plain.splits["val"][0], plain.splits["test"][0]]).reshape(1500, 40)
    rows = x.reshape(2000, 40)
    assert (torch.cdist(rows, train).min(1).values < 1e-2).all()  # each drawn row is a training example
    assert (torch.cdist(rows, held_out).min(1).values > 0.1).all()  # and none is a held-out one


def test_the_dataset_comes_from_the_papers_seed_and_leaves_global_generators_alone(plain):
    random.seed(3)
    np.random.seed(3)
    expected = (random.random(), np.random.rand())
    random.seed(3)
    np.random.seed(3)
    again = data.build_mnist1d(40)  # a fresh build, not the cached one
    assert (random.random(), np.random.rand()) == expected  # make_dataset reseeded both; they were restored
    cached = data.load_mnist1d(40)
    assert all(np.array_equal(again[k], cached[k]) for k in ("x", "y", "x_test", "y_test"))


def test_shuffle_seq_permutes_the_time_steps_the_same_way_in_every_split(plain, shuffled):
    train_plain, train_shuffled = plain.splits["train"][0][..., 0], shuffled.splits["train"][0][..., 0]
    # each shuffled column is one plain column: find which (the columns of 3,500 noisy examples are distinct)
    distance = (train_shuffled.T[:, None, :] - train_plain.T[None, :, :]).abs().sum(-1)
    permutation = distance.argmin(1)
    assert sorted(permutation.tolist()) == list(range(40)) and permutation.tolist() != list(range(40))
    for split in ("train", "val", "test"):
        (xp, yp), (xs, ys) = plain.splits[split], shuffled.splits[split]
        assert torch.equal(yp, ys)
        assert torch.allclose(xs[..., 0], xp[..., 0][:, permutation], atol=1e-6)
    assert shuffled.describe()["shuffle_seq"] is True and plain.describe()["shuffle_seq"] is False


def test_baseline_is_a_uniform_guess_read_at_the_last_step(plain):
    assert plain.baseline == pytest.approx(math.log(10))
    assert measured_baseline(plain) == pytest.approx(math.log(10), rel=1e-5)
    x, y = plain.splits["test"]
    guess = plain.baseline_output(x)
    sums = plain.eval_sums(guess, y)
    assert sums["loss"][1] == sums["accuracy"][1] == 1000
    assert 0.07 <= sums["accuracy"][0] / 1000 <= 0.13  # ties go to digit 0: its share of the test split
    out = torch.randn(1000, 40, 10, generator=gen())
    changed = out.clone()
    changed[:, :-1] = torch.randn(1000, 39, 10, generator=gen(1))  # only the last step is read
    assert plain.loss(out, y).item() == pytest.approx(plain.loss(changed, y).item())
    assert sums_mean(plain.eval_sums(out, y), "loss") == pytest.approx(plain.loss(out, y).item(), rel=1e-5)
    perfect = torch.nn.functional.one_hot(y, 10).float().unsqueeze(1).expand(-1, 40, -1) * 20
    assert plain.eval_sums(perfect, y)["accuracy"] == (1000, 1000)


def sums_mean(sums, name):
    total, count = sums[name]
    return total / count


def test_solved_means_ninety_percent_test_accuracy(plain):
    assert plain.solved({"accuracy": 0.90, "loss": 0.3}) and not plain.solved({"accuracy": 0.899, "loss": 0.3})
    assert not plain.solved({"loss": 0.01})  # no accuracy, not solved
    info = plain.describe()
    assert info["solved"] == "accuracy ≥ 0.9" and info["metric"] == "accuracy" and info["metric_higher_is_better"]
    assert info["input_kind"] == "continuous" and (info["input_size"], info["output_size"]) == (1, 10)


def test_bad_options_are_one_line_usage_errors(plain):
    entry = Registry().get("task", "mnist1d")
    for options, message in (({"shuffle_seq": "yes"}, "shuffle_seq must be true or false"),
                             ({"val_examples": 4000}, "below the 4,000 training examples"),
                             ({"val_examples": 0}, "val_examples must be an integer >= 1")):
        with pytest.raises(UsageError, match=message):
            build_task(entry, 40, options)


def test_one_tiny_trial_end_to_end(plain, tmp_path):
    frame = seqbench.run("gru", "mnist1d", [40], steps=5, hidden=8, batch=16, eval_examples=32, eval_every=5,
                         out=tmp_path)
    row = frame.iloc[0]
    assert row["status"] == "ok", row["status"]
    assert row["baseline"] == pytest.approx(math.log(10)) and 0 <= row["accuracy"] <= 1


def test_without_the_package_a_run_says_how_to_install_it_in_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(data, "_built", {})
    monkeypatch.setitem(sys.modules, "mnist1d", None)  # import mnist1d now fails, as when not installed
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(UsageError, match=r"^mnist1d needs the mnist1d package: pip install 'seqbench\[mnist1d\]'$"):
        data.load_mnist1d(40)
    code = main(["run", "--tasks", "mnist1d", "--lengths", "40", "--cells", "gru", "--out", str(tmp_path), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.endswith("mnist1d needs the mnist1d package: pip install 'seqbench[mnist1d]'")
    assert not list(tmp_path.glob("*/config.json"))  # refused before any run directory exists


def test_suite_prints_plain_and_shuffled_published_numbers_beside_their_own_rows():
    from seqbench.reporting.published_tables import tables
    from seqbench.spec.suite import load_suite, suite_reference

    _, [part] = load_suite("mnist1d")
    assert part.tasks == ["mnist1d"] and part.lengths == [40] and part.cells == ["rnn", "lstm", "gru", "transformer"]
    assert len(part.trials()) == 4 * 2 * 3  # cells × (plain, shuffled) × seeds
    reference = suite_reference("mnist1d")
    opts = ['{"shuffle_seq": false}'] * 2 + ['{"shuffle_seq": true}'] * 2
    results = pd.DataFrame({"task": ["mnist1d"] * 4, "length": [40] * 4, "cell": ["gru"] * 4, "seed": [0, 1] * 2,
                            "params": [20234] * 4, "accuracy": [0.80, 0.84, 0.50, 0.54], "status": ["ok"] * 4,
                            "task_opts": opts})
    plain_table, shuffled_table = tables(results, reference)
    assert "shuffle_seq=false" in plain_table.title and "shuffle_seq=true" in shuffled_table.title
    assert plain_table.rows[0][:5] == ["gru", "20,234", "0.82 ± 0.028", "0.91", "0.901"]
    assert shuffled_table.rows[0][:5] == ["gru", "20,234", "0.52 ± 0.028", "0.57", "0.912"]
    assert ["cnn (published only)", "", "", "0.94", "", ""] in plain_table.rows
    assert ["cnn (published only)", "", "", "0.56", "", ""] in shuffled_table.rows
    assert "causal" in plain_table.caption and "10 %" in plain_table.caption
    assert tables(results.assign(task_opts=""), reference) == []  # rows that leave the option unset: no match
