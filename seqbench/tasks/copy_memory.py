"""Copy memory (Hochreiter & Schmidhuber 1997; in the form of Arjovsky et al. 2016).

Input: ``n`` symbols from an alphabet of ``k`` (tokens 1..k), then ``T - 1`` blanks (0), a
delimiter (k + 1), then ``n`` blanks: ``T + 2n`` steps. Target: blanks everywhere except the
last ``n`` steps, which must reproduce the ``n`` symbols in order. The loss is the
cross-entropy over all ``T + 2n`` steps; a memoryless model that outputs blanks and then
guesses uniformly scores ``n·ln k / (T + 2n)``. Accuracy is measured on the ``n`` recall steps.
"""
from __future__ import annotations

import math
from typing import Any

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import TokenTask


class CopyTask(TokenTask):
    any_length = True  # defined at every T: a model trained at one T can be evaluated at another
    solved_metric = "accuracy"
    solved_threshold = 0.99
    solved_higher_is_better = True
    baseline_description = "blanks, then uniform guesses (n·ln k / (T + 2n))"

    def __init__(self, length: int, n_symbols: int = 10, alphabet: int = 8) -> None:
        super().__init__(length)
        if n_symbols < 1 or alphabet < 2:
            raise ValueError("copy needs n_symbols >= 1 and alphabet >= 2")
        self.n_symbols = n_symbols
        self.alphabet = alphabet
        self.input_size = alphabet + 2  # blank, k symbols, delimiter
        self.output_size = alphabet + 1  # blank, k symbols

    @property
    def seq_len(self) -> int:
        return self.length + 2 * self.n_symbols

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        import torch

        n, T = self.n_symbols, self.length
        symbols = torch.randint(1, self.alphabet + 1, (batch_size, n), generator=generator, device=device)
        x = torch.zeros(batch_size, self.seq_len, dtype=torch.long, device=device)
        x[:, :n] = symbols
        x[:, n + T - 1] = self.alphabet + 1
        y = torch.zeros_like(x)
        y[:, -n:] = symbols
        return x, y

    def eval_sums(self, out: Any, y: Any) -> dict[str, tuple[float, int]]:
        """Cross-entropy over every step (the classic loss), accuracy on the recall steps."""
        sums = super().eval_sums(out, y)
        recall = out[:, -self.n_symbols:].argmax(-1) == y[:, -self.n_symbols:]
        return {**sums, "accuracy": (recall.sum().item(), recall.numel())}

    @property
    def baseline(self) -> float:
        return self.n_symbols * math.log(self.alphabet) / self.seq_len

    def baseline_output(self, x: Any) -> Any:
        from seqbench.tasks.base import uniform_logits

        out = uniform_logits((x.shape[0], self.seq_len), [0], self.output_size)  # blanks
        out[:, -self.n_symbols:] = uniform_logits((x.shape[0], self.n_symbols), slice(1, None), self.output_size)
        return out


@hookimpl
def seqbench_register_tasks(register):
    register("copy", CopyTask,
             description="copy memory: recall 10 symbols (alphabet 8) after T blanks (cross-entropy)")
