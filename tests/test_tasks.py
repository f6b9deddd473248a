"""Built-in tasks: shapes, the dependency each claims, baselines and seeded determinism."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seqbench.tasks.adding import AddingTask
from seqbench.tasks.copy_memory import CopyTask


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_adding_layout_and_target():
    task = AddingTask(40)
    x, y = task.sample(256, gen(), "cpu")
    assert x.shape == (256, 40, 2) and y.shape == (256,)
    markers = x[..., 1]
    assert torch.all(markers.sum(1) == 2)
    assert torch.all(markers[:, :20].sum(1) == 1) and torch.all(markers[:, 20:].sum(1) == 1)
    assert torch.allclose(y, (x[..., 0] * markers).sum(1))
    assert x[..., 0].min() >= 0 and x[..., 0].max() <= 1


def test_adding_baseline_is_what_predicting_one_scores():
    task = AddingTask(30)
    _, y = task.sample(200_000, gen(1), "cpu")
    empirical = (y - 1).pow(2).mean().item()
    assert task.baseline == pytest.approx(1 / 6)
    assert empirical == pytest.approx(task.baseline, abs=0.003)
    out = torch.ones(y.shape[0], 30, 1)  # a model that always outputs 1
    assert task.loss(out, y).item() == pytest.approx(empirical)


def test_copy_layout_and_target():
    task = CopyTask(25)
    x, y = task.sample(64, gen(), "cpu")
    assert task.seq_len == 45 and x.shape == (64, 45) and y.shape == (64, 45)
    assert torch.all((x[:, :10] >= 1) & (x[:, :10] <= 8))
    assert torch.all(x[:, 10 + 24] == 9)  # delimiter after T - 1 blanks
    assert torch.all(x[:, 10:34] == 0) and torch.all(x[:, 35:] == 0)
    assert torch.all(y[:, :35] == 0)
    assert torch.equal(y[:, -10:], x[:, :10])
    assert task.input_size == 10 and task.output_size == 9


def test_copy_baseline_matches_the_memoryless_strategy():
    task = CopyTask(50)
    x, y = task.sample(512, gen(), "cpu")
    logits = torch.full((512, task.seq_len, 9), -1e9)
    logits[:, : task.seq_len - 10, 0] = 0.0  # certain blank before the recall window
    logits[:, -10:, 1:] = 0.0  # uniform guess over the 8 symbols after it
    assert task.loss(logits, y).item() == pytest.approx(10 * math.log(8) / 70, rel=1e-5)
    assert task.baseline == pytest.approx(10 * math.log(8) / 70)
    sums = task.eval_sums(logits, y)
    assert sums["ce_nats"][1] == 512 * 70
    assert sums["accuracy"][1] == 512 * 10


def test_copy_eval_accuracy_counts_recall_positions_only():
    task = CopyTask(5)
    x, y = task.sample(8, gen(), "cpu")
    perfect = F.one_hot(y, 9).float() * 50
    assert task.eval_sums(perfect, y)["accuracy"] == (80, 80)
    wrong_blanks = perfect.clone()
    wrong_blanks[:, 0] = F.one_hot(torch.full((8,), 3), 9).float() * 50
    assert task.eval_sums(wrong_blanks, y)["accuracy"] == (80, 80)


@pytest.mark.parametrize("task", [AddingTask(20), CopyTask(20)])
def test_sampling_is_seeded(task):
    a = task.sample(32, gen(7), "cpu")
    b = task.sample(32, gen(7), "cpu")
    c = task.sample(32, gen(8), "cpu")
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_solved_definitions():
    assert AddingTask(10).solved({"loss": 0.005}) and not AddingTask(10).solved({"loss": 0.02})
    assert CopyTask(10).solved({"accuracy": 0.995}) and not CopyTask(10).solved({"accuracy": 0.9})
    assert not AddingTask(10).solved({"loss": float("nan")})


@pytest.mark.parametrize("bad", [0, -3, 1])
def test_bad_lengths(bad):
    with pytest.raises(ValueError):
        AddingTask(bad)
