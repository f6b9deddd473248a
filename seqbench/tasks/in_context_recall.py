"""In-context recall, MAD's version (Poli et al. 2024, "Mechanistic Design and Scaling of Hybrid
Architectures", section 3 and appendix; generator ``generate_in_context_recall_instance`` in
github.com/athms/mad-lab ``mad/data/instances.py``, read, not copied).

A sequence of ``T`` tokens (``T`` even) is ``T/2`` key–value pairs ``k v k v …``. Keys are drawn
uniformly, with replacement, from a key vocabulary; every key gets one value per sequence (drawn
uniformly from the value vocabulary the first time it occurs, the same on every later
occurrence). The last pair repeats a key that occurred before (uniformly among those). As in
MAD's benchmark (``multi_query: True``, no copy prefix) the model reads the first ``T - 1``
tokens and, trained as a language model, predicts the next one at every step; it is evaluated
on the values of keys that occurred earlier in the sequence (every such value, not only the last
pair's): at those steps the answer is determined by the context.

Token ids as MAD's: with ``vocab_size`` ``V`` and no noise, keys ``0 … V/2 - 1``, values
``V/2 … V - 1``. The noisy variant (``noisy-recall``) takes ``noise_vocab_size`` ids off the top
for noise tokens and replaces each pair but the last by two noise tokens with probability
``noise_share`` (MAD's ``frac_noise``).

Training objective (``train_on``): ``"all"`` (MAD's): next-token cross-entropy at every step,
keys and first-time values included (they cannot be predicted, so the training loss has a floor
above 0); ``"scored"``: only at the scored steps. Evaluation (``loss``, ``accuracy``): only the
scored steps. Targets ``y`` are (batch, T - 1, 2): ``y[..., 0]`` the next token (training),
``y[..., 1]`` the evaluation target or ``-100``.

Baseline: a memoryless model guesses uniformly over the value vocabulary at each scored step,
``ln |values|``; optimum 0. Solved: accuracy on the scored steps ≥ 0.99.

MAD's defaults (``configs/tasks/in-context-recall.yml``, ``mad/configs.py``): baseline setting
``vocab_size`` 16, ``seq_len`` 128, 12,800 training examples (1,280 test), multi-query; the
difficulty changes are ``vocab_size`` 32/64/128, ``seq_len`` 256/512/1024 and 6,400/3,200/1,600/800
training examples; the benchmark trains with AdamW at lr 1e-4/5e-4/1e-3 × weight decay 0/0.1.

Differences from MAD's generator: the pair guaranteed not to be noise is drawn among all pairs
but the last (MAD draws among all pairs, so with noise a sequence can lack any key before the
probe); sampling is vectorized (its random stream differs from MAD's numpy one).
"""
from __future__ import annotations

import math
from typing import Any, Optional

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import IGNORE, TokenTask, int_param

TRAIN_ON = ("all", "scored")


def first_occurrence(codes: Any, code_count: int) -> Any:
    """For every entry of ``codes`` (batch, n), ids in ``range(code_count)``, the index along dim 1
    of the first entry in its row with the same code (``result == arange(n)`` marks first
    occurrences). A (batch, code_count) table of first positions where codes are few; else one
    sort of the flattened (row, code, position) keys (a sort along dim 1 is several times slower
    on CPU)."""
    import torch

    B, n = codes.shape
    steps = torch.arange(n, device=codes.device).expand(B, n)
    if code_count <= 4 * n:
        table = torch.full((B, code_count), n, dtype=torch.long, device=codes.device)
        return table.scatter_reduce_(1, codes, steps, "amin").gather(1, codes)
    rows = torch.arange(B, device=codes.device)[:, None]
    keys, order = ((rows * code_count + codes) * n + steps).view(-1).sort()  # distinct keys
    group = keys // n
    starts = torch.ones_like(group, dtype=torch.bool)
    starts[1:] = group[1:] != group[:-1]
    flat = torch.arange(B * n, device=codes.device)
    start_of = torch.where(starts, flat, torch.zeros_like(flat)).cummax(0).values
    first = torch.empty_like(keys)
    first[order] = (keys % n)[start_of]
    return first.view(B, n)


def noise_param(task: str, value: Any) -> float:
    """``value`` if it is a number in [0, 1), else a ValueError naming the task."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{task}: noise_share must be a number in [0, 1), got {value!r}")
    return float(value)


class NextTokenRecallTask(TokenTask):
    """A recall task trained as a language model (MAD's way) but judged on its recall steps:
    targets (batch, time, 2) hold the next token and the evaluation target."""

    any_length = True
    solved_metric = "accuracy"
    solved_threshold = 0.99
    solved_higher_is_better = True
    baseline_description = "uniform guess over the value vocabulary at each scored step (ln |values|)"
    name = ""
    value_count = 0  # size of the value vocabulary
    value_ids = slice(0)

    def _train_on(self, train_on: Any) -> str:
        if train_on not in TRAIN_ON:
            raise ValueError(f"{self.name}: train_on must be one of {', '.join(TRAIN_ON)}, got {train_on!r}")
        return train_on

    def scored(self, out: Any, y: Any) -> tuple[Any, Any]:
        return out, y[..., 1]

    def loss(self, out: Any, y: Any) -> Any:
        import torch.nn.functional as F

        target = y[..., 0] if self.train_on == "all" else y[..., 1]
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), target.reshape(-1), ignore_index=IGNORE)

    @property
    def baseline(self) -> float:
        return math.log(self.value_count)

    def baseline_output(self, x: Any) -> Any:
        from seqbench.tasks.base import uniform_logits

        return uniform_logits((x.shape[0], self.seq_len), self.value_ids, self.output_size)

    @property
    def optimum(self) -> Optional[float]:
        return 0.0


class InContextRecallTask(NextTokenRecallTask):
    name = "in-context-recall"

    def __init__(self, length: int, vocab_size: int = 16, train_on: str = "all") -> None:
        self._setup(length, vocab_size, 0, 0.0, train_on)

    def _setup(self, length: int, vocab_size: int, noise_vocab_size: int, noise_share: float,
               train_on: str) -> None:
        super().__init__(length)
        if length < 4 or length % 2:
            raise ValueError(f"{self.name}: the length T = {length} must be even and >= 4 "
                             "(T/2 key-value pairs, the last one a query)")
        self.vocab_size = int_param(self.name, "vocab_size", vocab_size, 2)
        self.noise_vocab_size = noise_vocab_size
        self.noise_share = noise_share
        self.train_on = self._train_on(train_on)
        plain = vocab_size - noise_vocab_size  # keys and values
        if plain < 4:
            raise ValueError(f"{self.name}: vocab_size {vocab_size} leaves {plain} ids for keys and values "
                             f"after {noise_vocab_size} noise ids; it needs at least 4")
        self.key_count = plain // 2
        self.value_count = plain - self.key_count
        self.value_ids = slice(self.key_count, plain)
        self.input_size = self.output_size = vocab_size

    @property
    def seq_len(self) -> int:
        return self.length - 1

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        import torch

        B, P, K = batch_size, self.length // 2, self.key_count
        keys = torch.randint(0, K, (B, P), generator=generator, device=device)
        table = torch.randint(K, K + self.value_count, (B, K), generator=generator, device=device)
        noise = self._noise_pairs(B, P, generator, device)
        codes = torch.where(noise, torch.full_like(keys, K), keys)[:, :-1]  # noise pairs share one code
        first = first_occurrence(codes, K + 1) == torch.arange(P - 1, device=device)
        presented = first & ~noise[:, :-1]  # the first occurrence of each key in the context
        score = torch.rand(B, P - 1, generator=generator, device=device).masked_fill(~presented, -1.0)
        keys[:, -1] = keys.gather(1, score.argmax(1, keepdim=True)).squeeze(1)  # the final query
        values = table.gather(1, keys)
        repeated = torch.ones_like(noise)
        repeated[:, :-1] = ~first & ~noise[:, :-1]
        s = torch.stack((keys, values), dim=2)  # (B, P, 2)
        if self.noise_share > 0:
            low = self.vocab_size - self.noise_vocab_size
            tokens = torch.randint(low, self.vocab_size, (B, P, 2), generator=generator, device=device)
            s = torch.where(noise[..., None], tokens, s)
        s = s.view(B, 2 * P)
        y = torch.full((B, 2 * P - 1, 2), IGNORE, dtype=torch.long, device=device)
        y[..., 0] = s[:, 1:]
        y[:, 0::2, 1] = torch.where(repeated, values, torch.full_like(values, IGNORE))
        return s[:, :-1], y

    def _noise_pairs(self, B: int, P: int, generator: Any, device: Any) -> Any:
        """(B, P) bool: which pairs are noise; never the last one nor one chosen pair before it."""
        import torch

        if self.noise_share <= 0:
            return torch.zeros(B, P, dtype=torch.bool, device=device)
        noise = torch.rand(B, P, generator=generator, device=device) < self.noise_share
        keep = torch.randint(0, P - 1, (B, 1), generator=generator, device=device)
        noise.scatter_(1, keep, False)
        noise[:, -1] = False
        return noise


@hookimpl
def seqbench_register_tasks(register):
    register("in-context-recall", InContextRecallTask,
             description="MAD's in-context recall: T/2 key-value pairs (vocab_size 16), values of repeated "
                         "keys recalled (trained as a language model, scored on the recalls)")
