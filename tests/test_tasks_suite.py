"""The long-dependency task suite: selective copying, multi-query associative recall and the
lag-L Markov language. Layout and dependency of each, baselines measured against the trivial
strategy, the Markov task's exact optimum against an oracle, seeding, parameter checks and
one tiny end-to-end trial each through the plugin registry."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import seqbench
from seqbench.errors import UsageError
from seqbench.plugins.registry import Registry
from seqbench.plugins.factories import build_task
from seqbench.tasks.associative_recall import IGNORE, AssociativeRecallTask
from seqbench.tasks.compression import CompressionTask
from seqbench.tasks.fuzzy_recall import FuzzyRecallTask
from seqbench.tasks.in_context_recall import InContextRecallTask
from seqbench.tasks.markov import MarkovTask
from seqbench.tasks.memorization import MemorizationTask
from seqbench.tasks.noisy_recall import NoisyRecallTask
from seqbench.tasks.selective_copy import SelectiveCopyTask

MODULES = ["seqbench.tasks.selective_copy", "seqbench.tasks.associative_recall", "seqbench.tasks.markov",
           "seqbench.tasks.in_context_recall", "seqbench.tasks.fuzzy_recall", "seqbench.tasks.noisy_recall",
           "seqbench.tasks.compression", "seqbench.tasks.memorization"]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def log_probs_to_logits(p):
    """Logits whose softmax is ``p`` (zeros become a very negative logit)."""
    return torch.log(p.clamp_min(1e-30)).float()


# --------------------------------------------------------------------------- selective copy


def test_selective_copy_layout_and_target():
    task = SelectiveCopyTask(30, n_tokens=5, alphabet=6)
    x, y = task.sample(500, gen(), "cpu")
    assert task.seq_len == 36 and x.shape == (500, 36) and y.shape == (500, 36)
    assert x.dtype == torch.long and y.dtype == torch.long
    assert task.input_size == 8 and task.output_size == 7
    data = x[:, :30]
    assert torch.all((data != 0).sum(1) == 5)  # exactly n symbols, the rest noise
    assert torch.all((data >= 0) & (data <= 6))
    assert torch.all(x[:, 30] == 7) and torch.all(x[:, 31:] == 0)  # delimiter, then noise
    assert torch.all(y[:, :31] == -100)
    assert torch.equal(y[:, -5:], data[data != 0].view(500, 5))  # the symbols, in order
    positions = (data != 0).nonzero()[:, 1]
    assert positions.min() == 0 and positions.max() == 29  # anywhere in the first T steps
    first = (data != 0).float().argmax(1)
    assert len(first.unique()) > 5  # not at fixed offsets
    assert set(y[:, -5:].unique().tolist()) == set(range(1, 7))


def test_selective_copy_tokens_can_fill_the_whole_window():
    x, y = SelectiveCopyTask(4, n_tokens=4, alphabet=3).sample(16, gen(), "cpu")
    assert torch.all(x[:, :4] > 0) and torch.equal(y[:, -4:], x[:, :4])


def test_selective_copy_baseline_is_a_uniform_guess_and_only_recall_counts():
    task = SelectiveCopyTask(20, n_tokens=4, alphabet=8)
    x, y = task.sample(256, gen(), "cpu")
    logits = torch.zeros(256, task.seq_len, task.output_size)
    logits[..., 0] = -1e9  # a memoryless model: uniform over the 8 symbols
    assert task.loss(logits, y).item() == pytest.approx(math.log(8), rel=1e-6)
    assert task.baseline == pytest.approx(math.log(8)) and task.optimum == 0.0
    sums = task.eval_sums(logits, y)
    assert sums["loss"][1] == sums["ce_nats"][1] == sums["accuracy"][1] == 256 * 4
    assert sums["loss"][0] / sums["loss"][1] == pytest.approx(math.log(8), rel=1e-6)
    perfect = F.one_hot(y.clamp_min(0), task.output_size).float() * 50
    perfect[:, : task.seq_len - 4] = torch.randn(256, task.seq_len - 4, task.output_size)  # ignored
    sums = task.eval_sums(perfect, y)
    assert sums["accuracy"] == (256 * 4, 256 * 4) and sums["loss"][0] < 1e-6
    assert task.solved({"accuracy": 1.0}) and not task.solved({"accuracy": 0.9})


# --------------------------------------------------------------------------- associative recall


def bound_values(x, pairs):
    """For every step of ``x``, the value bound to the key there (0 where no key matches)."""
    keys, values = x[:, 0:2 * pairs:2], x[:, 1:2 * pairs:2]
    match = x[:, :, None] == keys[:, None, :]
    return (match.long() * values[:, None, :]).sum(-1)


def test_associative_recall_layout_and_target():
    task = AssociativeRecallTask(40, pairs=6, queries=5, key_vocab=10, value_vocab=12)
    x, y = task.sample(400, gen(), "cpu")
    assert x.shape == y.shape == (400, 40) and x.dtype == y.dtype == torch.long
    assert task.input_size == task.output_size == 23
    keys, values = x[:, 0:12:2], x[:, 1:12:2]
    assert torch.all((keys >= 1) & (keys <= 10)) and torch.all((values >= 11) & (values <= 22))
    assert all(len(set(row)) == 6 for row in keys.tolist())  # distinct keys
    assert all(len(set(row)) == 6 for row in values.tolist())  # distinct values
    rest = x[:, 12:]
    asked = rest != 0
    assert torch.all(asked.sum(1) == 5)  # exactly `queries` queries, the rest filler
    assert torch.all(bound_values(x, 6)[:, 12:][asked] > 0)  # every query is a key of the context
    assert all(len(set(row[row != 0].tolist())) == 5 for row in rest)  # each key asked once at most
    assert torch.all(y[:, :12] == IGNORE) and torch.all(y[:, 12:][~asked] == IGNORE)
    assert torch.equal(y[:, 12:][asked], bound_values(x, 6)[:, 12:][asked])  # target: the bound value
    where = asked.nonzero()[:, 1] + 12
    assert where.min() == 12 and where.max() == 39  # queries anywhere after the pairs
    order = (rest[:, :, None] == keys[:, None, :]).float().argmax(-1)  # pair index of each step
    order = order[asked].view(400, 5)
    assert not torch.all(order[:, 1:] > order[:, :-1])  # keys are not asked in context order


def test_associative_recall_at_the_minimum_length_every_remaining_step_is_a_query():
    task = AssociativeRecallTask(24)  # 8 pairs, 8 queries
    x, y = task.sample(32, gen(), "cpu")
    assert torch.all(y[:, 16:] != IGNORE) and torch.all(x[:, 16:] != 0)
    assert torch.equal(y[:, 16:], bound_values(x, 8)[:, 16:])


def test_associative_recall_baseline_and_the_bag_of_values_strategy():
    task = AssociativeRecallTask(30, pairs=4, key_vocab=8, value_vocab=16)
    x, y = task.sample(512, gen(1), "cpu")
    uniform = torch.full((512, 30, task.output_size), -1e9)
    uniform[..., 9:] = 0.0  # memoryless: uniform over the 16 values
    assert task.loss(uniform, y).item() == pytest.approx(math.log(16), rel=1e-6)
    assert task.baseline == pytest.approx(math.log(16)) and task.optimum == 0.0
    present = torch.full((512, 30, task.output_size), -1e9)
    present.scatter_(2, x[:, None, 1:8:2].expand(512, 30, 4), 0.0)  # uniform over the 4 values seen
    assert task.loss(present, y).item() == pytest.approx(math.log(4), rel=1e-6)
    sums = task.eval_sums(uniform, y)
    assert sums["loss"][1] == sums["accuracy"][1] == sums["ce_nats"][1] == 512 * 4
    perfect = F.one_hot(y.clamp_min(0), task.output_size).float() * 50
    assert task.eval_sums(perfect, y)["accuracy"] == (512 * 4, 512 * 4)


# --------------------------------------------------------------------------- markov


def lag_counts(s, lag, vocab):
    """(V, V) counts of (s[t - lag], s[t]) over all t >= lag."""
    a, b = s[:, :-lag].reshape(-1), s[:, lag:].reshape(-1)
    return torch.bincount(a * vocab + b, minlength=vocab * vocab).view(vocab, vocab).double()


def full_sequence(x, y):
    return torch.cat((x, y[:, -1:]), dim=1)


def test_markov_layout_and_transition_matrix():
    task = MarkovTask(50, lag=5, vocab=6, noise=0.3, transition_seed=3)
    x, y = task.sample(64, gen(), "cpu")
    assert x.shape == y.shape == (64, 50) and x.dtype == y.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])  # next-token prediction
    assert x.min() >= 0 and x.max() < 6 and task.input_size == task.output_size == 6
    P = task.transition
    assert torch.allclose(P.sum(0), torch.ones(6, dtype=P.dtype))  # doubly stochastic
    assert torch.allclose(P.sum(1), torch.ones(6, dtype=P.dtype))
    assert torch.allclose(P, 0.7 * F.one_hot(task.permutation, 6).double() + 0.3 / 6)
    assert torch.equal(MarkovTask(50, lag=5, vocab=6, transition_seed=3).permutation, task.permutation)
    assert not torch.equal(MarkovTask(50, lag=5, vocab=6, transition_seed=4).permutation, task.permutation)


def test_markov_dependency_is_at_lag_L_only():
    L, V = 4, 6
    task = MarkovTask(60, lag=L, vocab=V, noise=0.3)
    s = full_sequence(*task.sample(3000, gen(2), "cpu"))
    P = task.transition

    def conditional(lag):
        counts = lag_counts(s, lag, V)
        return counts / counts.sum(1, keepdim=True)

    assert torch.allclose(conditional(L), P, atol=0.015)  # the claimed transition at lag L
    assert torch.allclose(conditional(2 * L), P @ P, atol=0.015)  # two lag steps: P²
    for lag in (1, L - 1, L + 1, 2 * L + 1):  # other chains: independent, so uniform
        assert torch.allclose(conditional(lag), torch.full((V, V), 1 / V, dtype=P.dtype), atol=0.015)
    marginal = torch.nn.functional.one_hot(s, V).double().mean(0)  # uniform at every position
    assert torch.allclose(marginal, torch.full_like(marginal, 1 / V), atol=0.05)


def test_markov_without_noise_is_a_permutation_at_lag_L():
    task = MarkovTask(30, lag=3, vocab=5, noise=0)
    x, y = task.sample(16, gen(), "cpu")
    assert torch.equal(y[:, 2:], task.permutation[x[:, :-2]])
    assert task.entropy_rate == 0.0 and task.optimum == pytest.approx(2 * math.log(5) / 30)
    uniform = MarkovTask(30, lag=3, vocab=5, noise=1.0)
    assert uniform.entropy_rate == pytest.approx(math.log(5)) and uniform.optimum == pytest.approx(uniform.baseline)


def oracle_logits(task, x, P):
    """Predict row P[s_{i+1-L}] where that token is in view, uniform before."""
    L = task.lag
    logits = torch.zeros(x.shape[0], x.shape[1], task.vocab)
    logits[:, L - 1:] = log_probs_to_logits(P)[x[:, : x.shape[1] - L + 1]]
    return logits


def test_markov_optimum_is_what_the_oracle_scores_and_nothing_beats_it():
    task = MarkovTask(32, lag=4, vocab=8, noise=0.2)
    a, b = 0.8 + 0.2 / 8, 0.2 / 8
    H = -(a * math.log(a) + 7 * b * math.log(b))
    assert task.entropy_rate == pytest.approx(H)
    assert task.optimum == pytest.approx((3 * math.log(8) + 29 * H) / 32)
    x, y = task.sample(4000, gen(5), "cpu")  # 128k independent-enough predictions
    P = task.transition
    oracle = oracle_logits(task, x, P)
    sums = task.eval_sums(oracle, y)
    assert sums["loss"][0] / sums["loss"][1] == pytest.approx(task.optimum, abs=0.015)
    assert sums["accuracy"][0] / sums["accuracy"][1] == pytest.approx(task.optimal_accuracy, abs=0.006)
    assert task.loss(oracle, y).item() == pytest.approx(sums["loss"][0] / sums["loss"][1], rel=1e-5)

    miscalibrated = MarkovTask(32, lag=4, vocab=8, noise=0.5).transition  # right π, wrong noise
    assert task.loss(oracle_logits(task, x, miscalibrated), y).item() > task.optimum + 0.1
    wrong_lag = MarkovTask(32, lag=5, vocab=8, noise=0.2)
    assert task.loss(oracle_logits(wrong_lag, x, P), y).item() > task.optimum + 0.5
    unigram = torch.zeros(4000, 32, 8)
    assert task.loss(unigram, y).item() == pytest.approx(task.baseline, rel=1e-6)
    assert task.solved({"loss": task.optimum + 0.01}) and not task.solved({"loss": task.baseline - 0.1})


def test_markov_lag_one_and_long_sequences_sample_quickly():
    task = MarkovTask(5000, lag=1, vocab=4, noise=0.1)
    x, y = task.sample(8, gen(), "cpu")
    assert x.shape == (8, 5000) and task.optimum == pytest.approx(task.entropy_rate)
    agree = (y == task.permutation[x]).double().mean().item()
    assert agree == pytest.approx(0.9 + 0.1 / 4, abs=0.02)


# --------------------------------------------------------------------------- all of them


ALL = [
    lambda: SelectiveCopyTask(20, n_tokens=4),
    lambda: AssociativeRecallTask(30, pairs=4),
    lambda: MarkovTask(20, lag=4),
    lambda: SelectiveCopyTask(40, n_tokens=4, vocab_size=10, layout="mad"),
    lambda: InContextRecallTask(32),
    lambda: FuzzyRecallTask(40),
    lambda: NoisyRecallTask(32),
    lambda: CompressionTask(8),
    lambda: MemorizationTask(16),
]
IDS = ["selective-copy", "associative-recall", "markov", "selective-copy-mad", "in-context-recall", "fuzzy-recall",
       "noisy-recall", "compression", "memorization"]


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_sampling_is_seeded(make):
    task = make()
    a = task.sample(32, gen(7), "cpu")
    b = task.sample(32, gen(7), "cpu")
    c = task.sample(32, gen(8), "cpu")
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])
    eval_a, eval_b = task.eval_batches(10, 4, "cpu"), task.eval_batches(10, 4, "cpu")
    assert [xb.shape[0] for xb, _ in eval_a] == [4, 4, 2]
    assert all(torch.equal(u[0], v[0]) for u, v in zip(eval_a, eval_b))


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_loss_and_eval_sums_agree_and_describe(make):
    task = make()
    if getattr(task, "train_on", None) == "all":  # trained as a language model (MAD's recall tasks)
        task.train_on = "scored"  # then its training loss is the evaluation loss
    x, y = task.sample(16, gen(), "cpu")
    out = torch.randn(16, task.seq_len, task.output_size, generator=gen(1))
    sums = task.eval_sums(out, y)
    assert set(sums) == {"loss", "ce_nats", "accuracy"}
    assert sums["loss"][0] / sums["loss"][1] == pytest.approx(task.loss(out, y).item(), rel=1e-5)
    assert task.predicts_tokens and task.input_kind == "tokens"
    info = task.describe()
    assert info["optimum"] is not None and info["optimum"] < info["baseline"]


@pytest.mark.parametrize("make, message", [
    (lambda: SelectiveCopyTask(10, n_tokens=11), "must fit in the first T = 10"),
    (lambda: SelectiveCopyTask(10, n_tokens=0), "n_tokens must be an integer >= 1"),
    (lambda: SelectiveCopyTask(10, alphabet=1), "alphabet"),
    (lambda: SelectiveCopyTask(10, alphabet=2.5), "alphabet"),
    (lambda: SelectiveCopyTask(10, n_tokens=True), "n_tokens"),
    (lambda: AssociativeRecallTask(23), r"needs 2\*pairs \+ queries = 24"),
    (lambda: AssociativeRecallTask(30, pairs=0), "pairs"),
    (lambda: AssociativeRecallTask(30, pairs=4, queries=5), "cannot exceed pairs"),
    (lambda: AssociativeRecallTask(30, pairs=4, key_vocab=3), "distinct keys"),
    (lambda: AssociativeRecallTask(30, pairs=4, value_vocab=1), "value_vocab"),
    (lambda: AssociativeRecallTask(30, pairs="8"), "pairs"),
    (lambda: MarkovTask(16), r"lag \(16\) must be smaller than the length"),
    (lambda: MarkovTask(20, lag=0), "lag"),
    (lambda: MarkovTask(20, vocab=1), "vocab"),
    (lambda: MarkovTask(20, noise=1.5), "noise"),
    (lambda: MarkovTask(20, noise=-0.1), "noise"),
    (lambda: MarkovTask(20, noise="lots"), "noise"),
    (lambda: MarkovTask(20, transition_seed=-1), "transition_seed"),
    (lambda: MarkovTask(0), "sequence length"),
    (lambda: SelectiveCopyTask(33, n_tokens=16, layout="mad"), r"must exceed 2 \* n_tokens \+ 1 = 33"),
    (lambda: SelectiveCopyTask(40, layout="MAD"), "layout must be one of uniform, mad"),
    (lambda: SelectiveCopyTask(40, alphabet=8, vocab_size=16), "not both"),
    (lambda: SelectiveCopyTask(40, vocab_size=3), "vocab_size must be an integer >= 4"),
    (lambda: InContextRecallTask(31), "must be even and >= 4"),
    (lambda: InContextRecallTask(2), "must be even and >= 4"),
    (lambda: InContextRecallTask(32, vocab_size=3), "needs at least 4"),
    (lambda: InContextRecallTask(32, train_on="keys"), "train_on must be one of all, scored"),
    (lambda: NoisyRecallTask(32, noise_share=1.0), r"noise_share must be a number in \[0, 1\)"),
    (lambda: NoisyRecallTask(32, noise_share="0.2"), "noise_share"),
    (lambda: NoisyRecallTask(32, vocab_size=19), "leaves 3 ids"),
    (lambda: NoisyRecallTask(32, noise_vocab_size=0), "noise_vocab_size"),
    (lambda: FuzzyRecallTask(12), r"must exceed 2 \* \(k_motif_size \+ v_motif_size\) = 12"),
    (lambda: FuzzyRecallTask(40, vocab_size=6), "need more"),
    (lambda: FuzzyRecallTask(40, k_motif_size=0), "k_motif_size"),
    (lambda: CompressionTask(1), "sequence length|>= 2"),
    (lambda: CompressionTask(8, vocab_size=2), "vocab_size must be an integer >= 3"),
    (lambda: MemorizationTask(15), "must be even"),
    (lambda: MemorizationTask(16, vocab_size=4), "vocab_size"),
    (lambda: MemorizationTask(16, map_seed=-1), "map_seed"),
])
def test_bad_parameters_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --------------------------------------------------------------------------- through the harness


@pytest.fixture(scope="module")
def suite_registry():
    problems: list[str] = []
    reg = Registry(MODULES, on_problem=problems.append)
    assert problems == []
    return reg


def test_tasks_register_and_build_with_user_parameters(suite_registry):
    assert {"selective-copy", "associative-recall", "markov", "in-context-recall", "fuzzy-recall", "noisy-recall",
            "compression", "memorization"} <= set(suite_registry.tasks)
    noisy = build_task(suite_registry.get("task", "noisy-recall"), 64, {"vocab_size": 48, "noise_share": 0.4})
    assert (noisy.vocab_size, noisy.noise_share, noisy.key_count) == (48, 0.4, 16)
    entry = suite_registry.get("task", "markov")
    assert build_task(entry, 40, {"lag": 8, "noise": 0}).lag == 8
    with pytest.raises(UsageError, match="task 'markov' at length 40: markov: lag"):
        build_task(entry, 40, {"lag": 40})
    with pytest.raises(UsageError, match="has no parameter 'n_tokens'"):
        build_task(entry, 40, {"n_tokens": 3})
    task = build_task(suite_registry.get("task", "associative-recall"), 30, {"pairs": 4, "queries": 2})
    assert task.queries == 2


@pytest.mark.parametrize("name, length", [("selective-copy", 20), ("associative-recall", 24), ("markov", 20),
                                          ("in-context-recall", 16), ("fuzzy-recall", 20), ("noisy-recall", 16),
                                          ("compression", 8), ("memorization", 16)])
def test_one_tiny_trial_end_to_end(name, length, tmp_path):
    frame = seqbench.run("lstm", name, [length], steps=5, hidden=8, batch=4, eval_examples=8,
                         eval_every=5, out=tmp_path, plugins=MODULES)
    row = frame.iloc[0]
    assert row["status"] == "ok", row["status"]
    assert row["baseline"] > row["optimum"] >= 0
    assert math.isfinite(row["loss"]) and 0 <= row["accuracy"] <= 1 and row["perplexity"] > 1
