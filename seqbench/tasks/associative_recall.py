"""Multi-query associative recall, "MQAR" (Arora et al. 2023, "Zoology: Measuring and
improving recall in efficient language models").

Input of ``T`` steps: ``pairs`` key–value pairs ``k1 v1 k2 v2 …`` (keys distinct, from a key
vocabulary of ``key_vocab`` tokens; values distinct, from a disjoint value vocabulary of
``value_vocab`` tokens), then the rest of the sequence: filler tokens (0) among which
``queries`` of the keys (each at most once, in random order) sit at random distinct
positions. At each query step the target is the value bound to that key; every other target
is ``-100`` and ignored. Token ids: 0 filler, 1..K keys, K+1..K+V values.

The loss is the cross-entropy on the query steps only, and accuracy is measured on them.
Baseline: a memoryless model cannot tell which value a key was bound to and guesses
uniformly over the value vocabulary, ``ln V``. (A model that remembers which values occurred
but not their keys could reach ``ln pairs``; a perfect one scores 0, the optimum.) Solved:
query accuracy ≥ 0.99.

Differences from Zoology's generator: query positions are uniform over the rest of the
sequence (Zoology draws them from a power law that favours positions just after the pairs),
the filler is one dedicated token (its ``random_non_queries=False``), and the value is not
repeated in the input after its query (the target is read at the query step itself).
"""
from __future__ import annotations

import math
from typing import Any, Optional

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import IGNORE, TokenTask, int_param


class AssociativeRecallTask(TokenTask):
    any_length = True  # defined at every T: a model trained at one T can be evaluated at another
    solved_metric = "accuracy"
    solved_threshold = 0.99
    solved_higher_is_better = True
    baseline_description = "uniform guess over the value vocabulary at each query (ln V)"

    def __init__(self, length: int, pairs: int = 8, queries: Optional[int] = None,
                 key_vocab: int = 64, value_vocab: int = 64) -> None:
        super().__init__(length)
        self.pairs = int_param("associative-recall", "pairs", pairs, 1)
        self.queries = pairs if queries is None else int_param("associative-recall", "queries", queries, 1)
        self.key_vocab = int_param("associative-recall", "key_vocab", key_vocab, 1)
        self.value_vocab = int_param("associative-recall", "value_vocab", value_vocab, 2)
        if self.queries > pairs:
            raise ValueError(f"associative-recall: queries ({self.queries}) cannot exceed pairs ({pairs}): "
                             "each key is queried at most once")
        if key_vocab < pairs or value_vocab < pairs:
            raise ValueError(f"associative-recall: {pairs} pairs need at least {pairs} distinct keys and "
                             f"values, got key_vocab={key_vocab}, value_vocab={value_vocab}")
        needed = 2 * pairs + self.queries
        if length < needed:
            raise ValueError(f"associative-recall: length {length} is too short for {pairs} pairs and "
                             f"{self.queries} queries: it needs 2*pairs + queries = {needed} steps")
        self.input_size = 1 + key_vocab + value_vocab  # filler, keys, values
        self.output_size = self.input_size  # targets are value ids

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        import torch

        B, p, q, T = batch_size, self.pairs, self.queries, self.length
        # Four draws of distinct indices per row, uniformly at random: which keys, which values,
        # which pairs are queried (in query order) and where the queries sit. Each is the positions
        # of the `count` smallest of `pool` uniforms (a float32 tie, p < 1e-4 per row, still gives
        # distinct indices). One rand serves all four, and topk costs a third of an argsort on CPU.
        pools, counts = (self.key_vocab, self.value_vocab, p, T - 2 * p), (p, p, q, q)
        uniform = torch.rand(B * sum(pools), generator=generator, device=device)
        keys, values, asked, where = (
            u.view(B, pool).topk(count, dim=1, largest=False, sorted=ordered).indices
            for u, pool, count, ordered in zip(uniform.split([B * n for n in pools]), pools, counts,
                                               (True, True, True, False)))  # where: sorted below
        keys = 1 + keys
        values = 1 + self.key_vocab + values
        where = 2 * p + where.sort(dim=1).values  # query positions, in order
        x = torch.zeros(B, T, dtype=torch.long, device=device)
        x[:, 0:2 * p:2] = keys
        x[:, 1:2 * p:2] = values
        x.scatter_(1, where, keys.gather(1, asked))
        y = torch.full_like(x, IGNORE)
        y.scatter_(1, where, values.gather(1, asked))
        return x, y

    @property
    def baseline(self) -> float:
        return math.log(self.value_vocab)

    @property
    def chance_accuracy(self) -> float:
        return 1 / self.value_vocab  # the uniform guess over the values

    def baseline_output(self, x: Any) -> Any:
        from seqbench.tasks.base import uniform_logits

        return uniform_logits((x.shape[0], self.length), slice(1 + self.key_vocab, None), self.output_size)

    @property
    def optimum(self) -> Optional[float]:
        return 0.0


@hookimpl
def seqbench_register_tasks(register):
    register("associative-recall", AssociativeRecallTask,
             description="multi-query associative recall (MQAR): 8 key-value pairs, then queries of "
                         "the keys among T filler steps (cross-entropy on the query steps)")
