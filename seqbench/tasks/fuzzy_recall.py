"""Fuzzy in-context recall, MAD's version (Poli et al. 2024; ``generate_fuzzy_in_context_recall_instance``
in github.com/athms/mad-lab ``mad/data/instances.py``, read, not copied): in-context recall where
keys and values are motifs of several adjacent tokens, so a model must recall a value only after
reading a whole, variable-length key.

A key is an ordered tuple of 1 … ``k_motif_size`` distinct tokens from the key vocabulary, a value
one of 1 … ``v_motif_size`` distinct tokens from the value vocabulary (sizes uniform). Within a
sequence a key always gets the same value. Pairs follow each other until the sequence would not
have room for one more pair and the final query; one pair, at a uniformly chosen slot, is the
*probe*, repeated after the last pair (the query); the sequence is left-padded to ``T + 1``
tokens, of which the model reads the first ``T``. Training examples mix key sizes; held-out
(validation and test) examples use keys of ``k_motif_size`` tokens only, as MAD's test set does.

Token ids as MAD's (multi-query, so no copy prefix): with ``vocab_size`` ``V`` the padding token is
``V - 1``; of the other ``V - 1`` ids the lower half (rounded down) are key tokens and the rest
value tokens (``V`` = 16: keys 0 … 6, values 7 … 14).

Training (``train_on="all"``, MAD's): next-token cross-entropy at every step, padding included;
``"scored"``: only at the scored steps. Scored (loss, accuracy): every value token of a pair whose
key occurred earlier in the sequence, and the query's value. Targets ``y`` are (batch, T, 2):
the next token and the evaluation target (``-100`` where unscored).

Baseline: a uniform guess over the value vocabulary at each scored step, ``ln |values|``; optimum 0
(keys and values use disjoint tokens, so a key's end is visible and a repeated key's value is
determined). Solved: accuracy on the scored steps ≥ 0.99.

MAD's defaults (``configs/tasks/fuzzy-in-context-recall.yml``, ``mad/configs.py``): baseline setting
``vocab_size`` 16, ``seq_len`` 128, ``k_motif_size`` 3, ``v_motif_size`` 3, 12,800 training examples,
multi-query; the difficulty changes are ``vocab_size`` 32/64/128, ``seq_len`` 256/512/1024 and
6,400/3,200/1,600/800 training examples.

Differences from MAD's generator: the probe is one of the pairs (MAD draws it separately and
inserts it at a token position, and, when that position falls past the last pair, leaves the
query's key absent from the context); MAD's noise options (unused by its benchmark) are left out;
sampling is vectorized.
"""
from __future__ import annotations

from typing import Any

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import IGNORE, int_param
from seqbench.tasks.in_context_recall import NextTokenRecallTask, first_occurrence


def distinct_tokens(shape: tuple[int, ...], size: int, pool: int, generator: Any, device: Any) -> Any:
    """(*shape, size) tuples of ``size`` distinct ids from ``range(pool)``, uniform over ordered
    tuples: the i-th id is a uniform draw among the ``pool - i`` ids not taken yet."""
    import torch

    chosen: list[Any] = []
    for i in range(size):
        r = torch.randint(0, pool - i, shape, generator=generator, device=device)
        if chosen:
            for taken in torch.stack(chosen, -1).sort(-1).values.unbind(-1):  # ascending
                r = r + (r >= taken).long()
        chosen.append(r)
    return torch.stack(chosen, -1)


class FuzzyRecallTask(NextTokenRecallTask):
    name = "fuzzy-recall"

    def __init__(self, length: int, vocab_size: int = 16, k_motif_size: int = 3, v_motif_size: int = 3,
                 train_on: str = "all") -> None:
        super().__init__(length)
        self.vocab_size = int_param(self.name, "vocab_size", vocab_size, 2)
        self.k_motif_size = int_param(self.name, "k_motif_size", k_motif_size, 1)
        self.v_motif_size = int_param(self.name, "v_motif_size", v_motif_size, 1)
        self.train_on = self._train_on(train_on)
        self.key_count = (vocab_size - 1) // 2
        self.value_count = vocab_size - 1 - self.key_count
        if self.key_count < k_motif_size or self.value_count < max(v_motif_size, 2):
            raise ValueError(f"{self.name}: vocab_size {vocab_size} gives {self.key_count} key and "
                             f"{self.value_count} value tokens; keys of {k_motif_size} and values of "
                             f"{v_motif_size} distinct tokens (and at least 2 values) need more")
        longest = k_motif_size + v_motif_size
        if length <= 2 * longest:
            raise ValueError(f"{self.name}: length {length} leaves no room for a pair and the query; "
                             f"it must exceed 2 * (k_motif_size + v_motif_size) = {2 * longest}")
        self.value_ids = slice(self.key_count, vocab_size - 1)
        self.input_size = self.output_size = vocab_size
        self._held_out_draw = False

    def held_out(self, seed: int, examples: Any = None) -> tuple[Any, Any]:
        """Validation and test examples: as ``Task.held_out``, with keys of ``k_motif_size`` tokens."""
        self._held_out_draw = True
        try:
            return super().held_out(seed, examples)
        finally:
            self._held_out_draw = False

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        import torch

        pairs = self._pairs(batch_size, generator, device)
        tokens, where, scored = self._layout(batch_size, pairs, generator, device)
        B, T = batch_size, self.length
        dump = T + 1  # one column past the sequence takes every unused slot
        s = torch.full((B, T + 2), self.vocab_size - 1, dtype=torch.long, device=device)
        s.scatter_(1, where, tokens)
        target = torch.full_like(s, IGNORE)
        target.scatter_(1, torch.where(scored, where, torch.full_like(where, dump)), tokens)
        y = torch.stack((s[:, 1:T + 1], target[:, 1:T + 1]), dim=2)
        return s[:, :T], y

    def _pairs(self, B: int, generator: Any, device: Any) -> dict[str, Any]:
        """Up to T/2 + 1 key-value pairs per row: tokens (B, P, K + V) keys first, key lengths and
        pair lengths (B, P), and whether each key occurred in an earlier pair."""
        import torch

        P, K, V = self.length // 2 + 1, self.k_motif_size, self.v_motif_size
        if self._held_out_draw:
            k_len = torch.full((B, P), K, dtype=torch.long, device=device)
        else:
            k_len = torch.randint(1, K + 1, (B, P), generator=generator, device=device)
        v_len = torch.randint(1, V + 1, (B, P), generator=generator, device=device)
        keys = distinct_tokens((B, P), K, self.key_count, generator, device)
        values = self.key_count + distinct_tokens((B, P), V, self.value_count, generator, device)
        digits = torch.where(torch.arange(K, device=device) < k_len[..., None], keys + 1, 0)
        codes = (digits * (self.key_count + 1) ** torch.arange(K, device=device)).sum(-1)
        first = first_occurrence(codes, (self.key_count + 1) ** K)  # a repeated key: its first value
        v_len = v_len.gather(1, first)
        values = values.gather(1, first[..., None].expand(-1, -1, V))
        offsets = torch.arange(K + V, device=device)
        pick = torch.where(offsets < k_len[..., None], offsets, K + offsets - k_len[..., None]).clamp(max=K + V - 1)
        return {"tokens": torch.cat((keys, values), -1).gather(2, pick), "k_len": k_len,
                "len": k_len + v_len, "repeated": first != torch.arange(P, device=device)}

    def _layout(self, B: int, pairs: dict[str, Any], generator: Any, device: Any) -> tuple[Any, Any, Any]:
        """Tokens (B, n), their positions in the padded sequence of T + 1 (T + 1: unused) and whether
        each is scored: the pairs that fit, then the probe pair again, all after the left padding."""
        import torch

        T, longest = self.length, self.k_motif_size + self.v_motif_size
        length = pairs["len"]
        start = length.cumsum(1) - length
        room = (start < T - 2 * longest).float()  # slots that fit whatever the probe's length
        probe = (torch.rand(room.shape, generator=generator, device=device) * room).argmax(1, keepdim=True)
        probe_len = length.gather(1, probe)
        kept = start < T - probe_len - longest  # MAD: pairs while the sequence is shorter than this
        context = (length * kept).sum(1, keepdim=True)
        pad = T + 1 - context - probe_len
        offsets = torch.arange(longest, device=device)
        is_value = offsets >= pairs["k_len"][..., None]
        valid = (offsets < length[..., None]) & kept[..., None]
        where = pad[..., None] + start[..., None] + offsets
        scored = valid & is_value & pairs["repeated"][..., None]
        probe_tokens = pairs["tokens"].gather(1, probe[..., None].expand(-1, -1, longest)).squeeze(1)
        probe_valid = offsets < probe_len
        probe_where = pad + context + offsets
        probe_scored = probe_valid & is_value.gather(1, probe[..., None].expand(-1, -1, longest)).squeeze(1)
        where = torch.cat((torch.where(valid, where, T + 1).view(B, -1),
                           torch.where(probe_valid, probe_where, T + 1)), 1)
        return (torch.cat((pairs["tokens"].view(B, -1), probe_tokens), 1), where,
                torch.cat((scored.view(B, -1), probe_scored), 1))


@hookimpl
def seqbench_register_tasks(register):
    register("fuzzy-recall", FuzzyRecallTask,
             description="MAD's fuzzy in-context recall: keys and values of 1-3 tokens (vocab_size 16), "
                         "values of repeated keys recalled (trained as a language model)")
