"""Selective copying (Gu & Dao 2023, "Mamba", section 3.1; data as in the S4 repository's
``copying.py`` with ``variable=True``).

Input: ``T`` steps holding ``n`` symbols from an alphabet of ``k`` (tokens 1..k) at random
distinct positions, in order, among noise tokens (0); then a delimiter (k + 1) and ``n``
noise tokens: ``T + 1 + n`` steps. Target: the ``n`` symbols in their order of appearance,
read from the model's output at the last ``n`` steps (every other target is ``-100`` and
ignored). Unlike copy memory the symbols' positions vary from example to example, so a
model cannot rely on fixed time offsets: it has to select what to keep by its content.

The loss is the cross-entropy on the ``n`` recall steps only, and accuracy is measured on
them. A memoryless model guesses uniformly over the alphabet: ``ln k`` (the baseline); a
perfect one scores 0 (the optimum). Solved: recall accuracy ≥ 0.99.

The S4/Mamba generator has no delimiter (its ``n`` recall steps are each a marker token);
here, as in ``copy``, one delimiter step opens the recall window.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import IGNORE, TokenTask, int_param


class SelectiveCopyTask(TokenTask):
    any_length = True  # defined at every T: a model trained at one T can be evaluated at another
    solved_metric = "accuracy"
    solved_threshold = 0.99
    solved_higher_is_better = True
    baseline_description = "uniform guess over the alphabet at each recall step (ln k)"

    def __init__(self, length: int, n_tokens: int = 16, alphabet: int = 8) -> None:
        super().__init__(length)
        self.n_tokens = int_param("selective-copy", "n_tokens", n_tokens, 1)
        self.alphabet = int_param("selective-copy", "alphabet", alphabet, 2)
        if n_tokens > length:
            raise ValueError(f"selective-copy: the {n_tokens} tokens (n_tokens) must fit in the first "
                             f"T = {length} steps; use a length >= {n_tokens} or fewer tokens")
        self.input_size = alphabet + 2  # noise, k symbols, delimiter
        self.output_size = alphabet + 1  # noise, k symbols (targets are symbols only)

    @property
    def seq_len(self) -> int:
        return self.length + 1 + self.n_tokens

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        import torch

        n, T = self.n_tokens, self.length
        symbols = torch.randint(1, self.alphabet + 1, (batch_size, n), generator=generator, device=device)
        # n distinct positions among the first T, in increasing order (float64 keys: no ties)
        keys = torch.rand(batch_size, T, generator=generator, device=device, dtype=torch.float64)
        positions = keys.argsort(dim=1)[:, :n].sort(dim=1).values
        x = torch.zeros(batch_size, self.seq_len, dtype=torch.long, device=device)
        x.scatter_(1, positions, symbols)
        x[:, T] = self.alphabet + 1
        y = torch.full_like(x, IGNORE)
        y[:, -n:] = symbols
        return x, y

    def scored(self, out: Any, y: Any) -> tuple[Any, Any]:
        return out[:, -self.n_tokens:], y[:, -self.n_tokens:]  # the recall window

    @property
    def baseline(self) -> float:
        return math.log(self.alphabet)

    def baseline_output(self, x: Any) -> Any:
        from seqbench.tasks.base import uniform_logits

        return uniform_logits((x.shape[0], self.seq_len), slice(1, self.alphabet + 1), self.output_size)

    @property
    def optimum(self) -> Optional[float]:
        return 0.0


@hookimpl
def seqbench_register_tasks(register):
    register("selective-copy", SelectiveCopyTask,
             description="selective copying: recall 16 symbols (alphabet 8) scattered among T noise "
                         "tokens (cross-entropy on the recall steps)")
