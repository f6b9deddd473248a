"""MAD's synthetic tasks (Poli et al. 2024): in-context, fuzzy and noisy recall, compression,
memorization and selective copying in MAD's layout. Each layout checked against a plain-Python
reading of MAD's definition, the baselines measured against their trivial strategy, a perfect
oracle solving each, and the task-specific claims (noise share, multi-token keys, a map that is
the same for every seed)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seqbench.tasks.base import IGNORE, measured_baseline
from seqbench.tasks.compression import CompressionTask
from seqbench.tasks.fuzzy_recall import FuzzyRecallTask, distinct_tokens
from seqbench.tasks.in_context_recall import InContextRecallTask, first_occurrence
from seqbench.tasks.memorization import MemorizationTask
from seqbench.tasks.noisy_recall import NoisyRecallTask
from seqbench.tasks.selective_copy import SelectiveCopyTask

MAD = {  # each task at a small setting
    "in-context-recall": lambda: InContextRecallTask(32),
    "fuzzy-recall": lambda: FuzzyRecallTask(48),
    "noisy-recall": lambda: NoisyRecallTask(32, noise_share=0.4),
    "compression": lambda: CompressionTask(12, vocab_size=8),
    "memorization": lambda: MemorizationTask(16),
    "selective-copy-mad": lambda: SelectiveCopyTask(48, n_tokens=6, vocab_size=12, layout="mad"),
}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def eval_target(y):
    return y[..., 1] if y.dim() == 3 else y


def oracle(task, y):
    """Outputs that put all their mass on every scored target (where the task reads them)."""
    target = eval_target(y)
    if isinstance(task, CompressionTask):
        out = torch.zeros(y.shape[0], task.seq_len, task.output_size)
        out[:, -1] = (F.one_hot(target, task.vocab_size).float() * 50).flatten(1)
        return out
    return F.one_hot(target.clamp_min(0), task.output_size).float() * 50


# --------------------------------------------------------------------------- every MAD task


@pytest.mark.parametrize("name", MAD)
def test_shapes_dtypes_and_token_range(name):
    task = MAD[name]()
    x, y = task.sample(64, gen(), "cpu")
    assert x.shape == (64, task.seq_len) and x.dtype == torch.long and y.dtype == torch.long
    assert y.shape[:2] == (64, task.seq_len)
    assert 0 <= x.min() and x.max() < task.input_size
    target = eval_target(y)
    assert (target != IGNORE).any(dim=1).all()  # every example is scored somewhere
    assert target[target != IGNORE].max() < (task.vocab_size if name == "compression" else task.output_size)


@pytest.mark.parametrize("name", MAD)
def test_same_seed_same_batch_and_held_out_sets_fixed(name):
    task = MAD[name]()
    a, b, c = (task.sample(32, gen(s), "cpu") for s in (5, 5, 6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])
    val, test = task.held_out(1, 40), task.held_out(2, 40)
    assert torch.equal(val[0], task.held_out(1, 40)[0]) and not torch.equal(val[0], test[0])


@pytest.mark.parametrize("name", MAD)
def test_baseline_output_scores_the_baseline(name):
    task = MAD[name]()
    measured = measured_baseline(task, 4096)
    assert measured == pytest.approx(task.baseline, rel=0.02)
    assert task.optimum == 0.0 < task.baseline
    assert not task.solved({"accuracy": 0.5, "loss": task.baseline})


@pytest.mark.parametrize("name", MAD)
def test_a_perfect_oracle_solves_the_task(name):
    task = MAD[name]()
    x, y = task.sample(256, gen(3), "cpu")
    sums = task.eval_sums(oracle(task, y), y)
    stats = {k: s / n for k, (s, n) in sums.items()}
    assert stats["accuracy"] == 1.0 and stats["loss"] < 1e-6
    assert task.solved(stats) and task.solved_description == "accuracy ≥ 0.99"
    info = task.describe()
    assert info["metric"] == "accuracy" and info["baseline"] == task.baseline


# --------------------------------------------------------------------------- in-context and noisy recall


def recall_reference(x, y_next, key_count, noise_from):
    """Plain Python reading of MAD's multi-query recall: per row the scored targets (position ->
    value) and checks that every key keeps its value."""
    rows = []
    for tokens, nxt in zip(x.tolist(), y_next.tolist()):
        seq = tokens + [nxt[-1]]
        seen, scored = {}, {}
        for i in range(0, len(seq), 2):
            k, v = seq[i], seq[i + 1]
            if k >= noise_from:  # a noise pair
                assert v >= noise_from
                continue
            assert k < key_count <= v < noise_from
            if k in seen:
                assert seen[k] == v
                scored[i] = v
            seen[k] = v
        assert len(seq) - 2 in scored  # the final pair queries a key seen before
        rows.append(scored)
    return rows


@pytest.mark.parametrize("make", [lambda: InContextRecallTask(24, vocab_size=10),
                                  lambda: NoisyRecallTask(24, vocab_size=18, noise_share=0.5, noise_vocab_size=8)])
def test_recall_layout_and_scored_steps_follow_mad(make):
    task = make()
    x, y = task.sample(300, gen(), "cpu")
    assert task.seq_len == 23 and y.shape == (300, 23, 2)
    assert torch.equal(y[:, :-1, 0], x[:, 1:])  # the language-model target is the next token
    noise_from = task.vocab_size - task.noise_vocab_size
    for row, scored in enumerate(recall_reference(x, y[..., 0], task.key_count, noise_from)):
        got = {i: v for i, v in enumerate(y[row, :, 1].tolist()) if v != IGNORE}
        assert got == scored


def test_recall_trains_on_every_next_token_by_default_and_on_the_recalls_when_asked():
    task = InContextRecallTask(32)
    x, y = task.sample(64, gen(), "cpu")
    out = torch.randn(64, 31, 16, generator=gen(1))
    every = F.cross_entropy(out.reshape(-1, 16), y[..., 0].reshape(-1))
    assert task.loss(out, y).item() == pytest.approx(every.item(), rel=1e-6)
    sums = task.eval_sums(out, y)
    assert sums["loss"][1] == (y[..., 1] != IGNORE).sum() < 64 * 31
    task.train_on = "scored"
    assert task.loss(out, y).item() == pytest.approx(sums["loss"][0] / sums["loss"][1], rel=1e-5)


@pytest.mark.parametrize("share", [0.0, 0.2, 0.6])
def test_noise_share_is_the_share_of_noise_tokens(share):
    task = NoisyRecallTask(128, noise_share=share) if share else InContextRecallTask(128, vocab_size=16)
    x, y = task.sample(2000, gen(4), "cpu")
    tokens = torch.cat((x, y[:, -1:, 0]), 1)
    measured = (tokens >= 16).double().mean().item()
    assert measured == pytest.approx(share * 62 / 64, abs=0.004)  # the last pair and one more are never noise
    scored = y[..., 1] != IGNORE
    assert not (x[scored] >= 16).any()  # noise is never scored


@pytest.mark.parametrize("code_count", [6, 1000])  # a table of first positions; a sort
def test_first_occurrence_marks_the_first_of_equal_codes(code_count):
    codes = torch.tensor([[3, 1, 3, 3, 1, 0], [5, 5, 5, 5, 5, 5]])
    assert first_occurrence(codes, code_count).tolist() == [[0, 1, 0, 0, 1, 5], [0, 0, 0, 0, 0, 0]]
    many = torch.randint(0, 6, (50, 40), generator=gen())
    expected = [[row.index(c) for c in row] for row in many.tolist()]
    assert first_occurrence(many, code_count).tolist() == expected


# --------------------------------------------------------------------------- fuzzy recall


def parse_pairs(seq, key_count, pad):
    """Split a padded fuzzy-recall sequence into (key tuple, value tuple, value start) pairs."""
    pairs, i = [], 0
    while seq[i] == pad:
        i += 1
    while i < len(seq):
        j = i
        while j < len(seq) and seq[j] < key_count:
            j += 1
        k = j
        while k < len(seq) and key_count <= seq[k] < pad:
            k += 1
        pairs.append((tuple(seq[i:j]), tuple(seq[j:k]), j))
        i = k
    return pairs


@pytest.mark.parametrize("held_out", [False, True])
def test_fuzzy_recall_layout_follows_mad(held_out):
    task = FuzzyRecallTask(48, vocab_size=16)
    x, y = task.held_out(7, 300) if held_out else task.sample(300, gen(), "cpu")
    assert x.shape == (300, 48) and y.shape == (300, 48, 2) and torch.equal(y[:, :-1, 0], x[:, 1:])
    key_sizes = []
    for row in range(300):
        seq = x[row].tolist() + [y[row, -1, 0].item()]
        pairs = parse_pairs(seq, task.key_count, 15)
        assert seq[0] == 15  # left-padded
        seen, scored = {}, {}
        for key, value, at in pairs:
            assert 1 <= len(key) <= 3 and 1 <= len(value) <= 3
            assert len(set(key)) == len(key) and len(set(value)) == len(value)  # distinct tokens in a motif
            if key in seen:
                assert seen[key] == value
                scored.update({at + n - 1: v for n, v in enumerate(value)})
            seen[key] = value
            key_sizes.append(len(key))
        assert pairs[-1][0] in {key for key, _, _ in pairs[:-1]}  # the query's key occurred before
        got = {i: v for i, v in enumerate(y[row, :, 1].tolist()) if v != IGNORE}
        assert got == scored
    counts = torch.bincount(torch.tensor(key_sizes), minlength=4)[1:].double()
    if held_out:
        assert counts[:2].sum() == 0  # held-out keys are all k_motif_size tokens long
    else:
        assert (counts / counts.sum() - 1 / 3).abs().max() < 0.03  # training mixes 1, 2 and 3 tokens


def test_distinct_tokens_are_uniform_ordered_tuples():
    t = distinct_tokens((20000,), 2, 4, gen(), "cpu")
    assert (t[:, 0] != t[:, 1]).all()
    freq = torch.bincount(t[:, 0] * 4 + t[:, 1], minlength=16).double() / 20000
    off_diagonal = freq.view(4, 4)[~torch.eye(4, dtype=torch.bool)]
    assert (off_diagonal - 1 / 12).abs().max() < 0.01


# --------------------------------------------------------------------------- compression


def test_compression_is_read_from_the_last_step_only():
    task = CompressionTask(12, vocab_size=8)
    x, y = task.sample(128, gen(), "cpu")
    assert torch.equal(x, y) and (x[:, -1] == 7).all() and (x[:, :-1] < 7).all()
    assert task.output_size == 12 * 8 and task.input_size == 8
    perfect = oracle(task, y)
    perfect[:, :-1] = torch.randn(128, 11, 96, generator=gen(1))  # other steps are never read
    assert task.eval_sums(perfect, y)["accuracy"] == (128 * 12, 128 * 12)
    late = torch.zeros_like(perfect)
    late[:, -2] = perfect[:, -1]  # right answer one step early: not what the task reads
    assert task.eval_sums(late, y)["accuracy"][0] < 128 * 12 / 4
    assert task.baseline == pytest.approx(11 * math.log(7) / 12)


@pytest.mark.parametrize("cell", ["gru", "transformer"])
def test_compression_decoder_is_applied_at_the_last_step_only_with_the_same_loss_and_gradients(cell):
    from seqbench.models.model import build_model
    from seqbench.plugins.registry import Registry

    task = CompressionTask(12, vocab_size=8)
    torch.manual_seed(0)
    model = build_model(task, Registry().get("cell", cell), 16, 1, 0.0).double()
    x, y = task.sample(8, gen(), "cpu")
    out, _ = model(x)
    assert out.shape == (8, 1, 12 * 8)  # T × vocab logits once, not at each of the 12 steps

    def loss_and_grads(last_step_only):
        model.last_step_only = last_step_only
        model.zero_grad()
        loss = task.loss(model(x)[0], y)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters()]

    last, every = loss_and_grads(True), loss_and_grads(False)
    assert last[0] == pytest.approx(every[0], rel=1e-12)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(last[1], every[1]))
    assert not MemorizationTask(16).reads_last_step_only  # tasks that read every step keep every step


# --------------------------------------------------------------------------- memorization


def test_memorization_map_is_the_same_for_every_seed_and_split():
    task = MemorizationTask(32, vocab_size=64)
    assert task.pairs == 31 and task.value_of.unique().numel() == 31 and (task.value_of >= 31).all()
    draws = [task.sample(200, gen(s), "cpu") for s in (0, 1)] + [task.held_out(s, 200) for s in (11, 12)]
    for x, y in draws:
        assert (x[:, 1::2] == 63).all() and (y[:, 0::2] == IGNORE).all()
        assert torch.equal(y[:, 1::2], task.value_of[x[:, 0::2]])  # one map for all of them
    assert torch.equal(MemorizationTask(8, vocab_size=64).value_of, task.value_of)  # nor the length
    other = MemorizationTask(32, vocab_size=64, map_seed=1).value_of
    assert not torch.equal(other, task.value_of)


def test_a_uniform_baseline_measured_on_the_test_set_equals_the_analytic_one():
    from seqbench.tasks.base import reference_rows

    task = MemorizationTask(16, vocab_size=64)  # 8,192 scored steps: a float32 sum drifts by ~1e-4
    assert measured_baseline(task) == pytest.approx(math.log(31), rel=1e-9)
    assert reference_rows(task.describe()) == []  # so no "(baseline on test)" row repeats the baseline


# --------------------------------------------------------------------------- selective copying, MAD's layout


def test_selective_copy_in_mad_layout():
    n, length = 6, 48
    task = SelectiveCopyTask(length, n_tokens=n, vocab_size=12, layout="mad")
    assert task.alphabet == 10 and task.input_size == 12 and task.seq_len == length  # MAD's seq_len: everything
    x, y = task.sample(4000, gen(), "cpu")
    window = length - n - 1
    data = x[:, :window]
    assert ((data != 0).sum(1) == n).all() and (x[:, window] == 11).all() and (x[:, window + 1:] == 0).all()
    assert (data[:, -1] != 0).all()  # MAD inserts blanks only in front of symbols
    assert torch.equal(y[:, -n:], data[data != 0].view(-1, n)) and (y[:, :-n] == IGNORE).all()
    first = (data != 0).float().argmax(1).double()  # blanks in front of symbol 0: Binomial(window - n, 1/n)
    assert first.mean().item() == pytest.approx((window - n) / n, abs=0.15)
    assert SelectiveCopyTask(40, vocab_size=10).alphabet == 8 == SelectiveCopyTask(40).alphabet
