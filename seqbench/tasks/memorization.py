"""Memorization, MAD's version (Poli et al. 2024; ``generate_kv_map`` and
``generate_memorization_instance`` in github.com/athms/mad-lab ``mad/data/instances.py``, read, not
copied): a fixed key→value map that never appears in the context, so the model has to store it
in its weights (it tests the parameters' capacity, not the state's).

The map is drawn once from ``map_seed`` (the same for training, validation and test, for every
trial seed): of the ``vocab_size - 1`` ordinary ids the lower half (rounded down) are keys and
the rest values; a random permutation of the keys is paired with a random permutation of the
values (``n = (vocab_size - 1) // 2`` pairs, so one value id goes unused when ``vocab_size - 1``
is odd, as in MAD). Input of ``T`` steps (``T`` even): ``T/2`` keys drawn uniformly with
replacement, each followed by the insert token ``vocab_size - 1``; at each insert step the target
is the value mapped to the key before it (the key steps are not scored).

Loss: cross-entropy on the insert steps; accuracy there. Baseline: a model that ignores the key
guesses uniformly over the ``n`` mapped values, ``ln n``; optimum 0. Solved: accuracy ≥ 0.99.

MAD's defaults (``configs/tasks/memorization.yml``, ``mad/configs.py``): baseline setting
``vocab_size`` 256, ``seq_len`` 32, 256 training examples; the difficulty changes are ``vocab_size``
512/1024/2048/4096/8192. MAD draws the map from its config's ``seed`` (12345), the default
``map_seed`` here. MAD's noise options (unused by its benchmark) are left out; the map here is
drawn with torch's generator, so it differs from MAD's numpy one.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import IGNORE, TokenTask, int_param

MAD_SEED = 12345  # MADConfig.seed, from which MAD draws the map


class MemorizationTask(TokenTask):
    any_length = True  # the map does not depend on T
    solved_metric = "accuracy"
    solved_threshold = 0.99
    solved_higher_is_better = True
    baseline_description = "uniform guess over the mapped values at each insert step (ln n)"

    def __init__(self, length: int, vocab_size: int = 256, map_seed: int = MAD_SEED) -> None:
        import torch

        super().__init__(length)
        self.vocab_size = int_param("memorization", "vocab_size", vocab_size, 5)
        self.map_seed = int_param("memorization", "map_seed", map_seed, 0)
        if length < 2 or length % 2:
            raise ValueError(f"memorization: the length T = {length} must be even and >= 2 (key, insert token pairs)")
        self.pairs = (vocab_size - 1) // 2
        generator = torch.Generator(device="cpu").manual_seed(map_seed)
        keys = torch.randperm(self.pairs, generator=generator)
        values = self.pairs + torch.randperm(vocab_size - 1 - self.pairs, generator=generator)[:self.pairs]
        self.value_of = torch.empty(self.pairs, dtype=torch.long)
        self.value_of[keys] = values  # the map: key id -> value id
        self.input_size = self.output_size = vocab_size

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        import torch

        keys = torch.randint(0, self.pairs, (batch_size, self.length // 2), generator=generator, device=device)
        x = torch.full((batch_size, self.length), self.vocab_size - 1, dtype=torch.long, device=device)
        x[:, 0::2] = keys
        y = torch.full_like(x, IGNORE)
        y[:, 1::2] = self.value_of.to(device)[keys]
        return x, y

    @property
    def baseline(self) -> float:
        return math.log(self.pairs)

    def baseline_output(self, x: Any) -> Any:
        from seqbench.tasks.base import uniform_logits

        return uniform_logits((x.shape[0], self.length), self.value_of, self.output_size)

    @property
    def optimum(self) -> Optional[float]:
        return 0.0


@hookimpl
def seqbench_register_tasks(register):
    register("memorization", MemorizationTask,
             description="MAD's memorization: a fixed key->value map (vocab_size 256, map_seed 12345) "
                         "learned in the weights; each key is followed by an insert token that asks for its value")
