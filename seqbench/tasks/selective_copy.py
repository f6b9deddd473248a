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

MAD's selective copying (Poli et al. 2024; ``generate_selective_copying_instance`` in
github.com/athms/mad-lab ``mad/data/instances.py``) has the same layout: ``vocab_size`` counts every
id (symbols, blank, copy token), so its ``vocab_size - 2`` symbols are ``alphabet`` here (give
either ``vocab_size`` or ``alphabet``); its ``num_tokens_to_copy`` is ``n_tokens``. It differs in
two ways, both selected by ``layout="mad"``: its ``seq_len`` counts the whole sequence (``T``
here is then MAD's ``seq_len``, and the data window ``T - n - 1`` steps; MAD requires
``T > 2n + 1``), and it places each of the window's blanks independently in front of a uniformly
chosen symbol (so the window always ends with a symbol, and the gaps are multinomial, not uniform
over positions). Symbols are drawn with replacement in both. MAD's defaults
(``configs/tasks/selective-copying.yml``): baseline setting ``vocab_size`` 16, ``seq_len`` 256,
``num_tokens_to_copy`` 16, 12,800 training examples; the difficulty changes are ``vocab_size``
32/64/128, ``seq_len`` 512/1024, 6,400/3,200/1,600/800 training examples and
``num_tokens_to_copy`` 32/64/96. MAD's setting is ``--task-opt selective-copy.vocab_size=16
--task-opt selective-copy.layout=mad --lengths 256``.
"""
from __future__ import annotations

import math
from typing import Any, Optional

LAYOUTS = ("uniform", "mad")

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import IGNORE, TokenTask, int_param


class SelectiveCopyTask(TokenTask):
    any_length = True  # defined at every T: a model trained at one T can be evaluated at another
    solved_metric = "accuracy"
    solved_threshold = 0.99
    solved_higher_is_better = True
    baseline_description = "uniform guess over the alphabet at each recall step (ln k)"

    def __init__(self, length: int, n_tokens: int = 16, alphabet: Optional[int] = None,
                 vocab_size: Optional[int] = None, layout: str = "uniform") -> None:
        super().__init__(length)
        self.n_tokens = int_param("selective-copy", "n_tokens", n_tokens, 1)
        self.alphabet = symbol_count(alphabet, vocab_size)
        if layout not in LAYOUTS:
            raise ValueError(f"selective-copy: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        self.layout = layout
        self.window = length if layout == "uniform" else length - n_tokens - 1  # steps holding the symbols
        if layout == "mad" and length <= 2 * n_tokens + 1:
            raise ValueError(f"selective-copy: with layout=mad the length T = {length} is the whole sequence "
                             f"and must exceed 2 * n_tokens + 1 = {2 * n_tokens + 1}")
        if n_tokens > length:
            raise ValueError(f"selective-copy: the {n_tokens} tokens (n_tokens) must fit in the first "
                             f"T = {length} steps; use a length >= {n_tokens} or fewer tokens")
        self.input_size = self.alphabet + 2  # noise, k symbols, delimiter
        self.output_size = self.alphabet + 1  # noise, k symbols (targets are symbols only)

    @property
    def seq_len(self) -> int:
        return self.window + 1 + self.n_tokens

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        import torch

        n, T = self.n_tokens, self.window
        symbols = torch.randint(1, self.alphabet + 1, (batch_size, n), generator=generator, device=device)
        if self.layout == "mad":
            positions = mad_positions(batch_size, n, T, generator, device)
        else:  # n distinct positions among the first T, in increasing order (float64 keys: no ties)
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

    @property
    def chance_accuracy(self) -> float:
        return 1 / self.alphabet  # the uniform guess over the symbols

    def baseline_output(self, x: Any) -> Any:
        from seqbench.tasks.base import uniform_logits

        return uniform_logits((x.shape[0], self.seq_len), slice(1, self.alphabet + 1), self.output_size)

    @property
    def optimum(self) -> Optional[float]:
        return 0.0


def symbol_count(alphabet: Optional[int], vocab_size: Optional[int]) -> int:
    """The number of symbols: ``alphabet``, or MAD's ``vocab_size - 2``, or 8 when neither is given."""
    if alphabet is not None and vocab_size is not None and alphabet != vocab_size - 2:
        raise ValueError(f"selective-copy: give alphabet or vocab_size (= alphabet + 2), not both "
                         f"(got alphabet={alphabet!r}, vocab_size={vocab_size!r})")
    if vocab_size is not None:
        return int_param("selective-copy", "vocab_size", vocab_size, 4) - 2
    return 8 if alphabet is None else int_param("selective-copy", "alphabet", alphabet, 2)


def mad_positions(batch: int, n: int, window: int, generator: Any, device: Any) -> Any:
    """(batch, n) positions of the symbols when each of the ``window - n`` blanks goes in front of a
    uniformly chosen symbol (MAD's placement): symbol i sits after i symbols and the blanks in
    front of symbols 0 … i."""
    import torch

    gaps = torch.randint(0, n, (batch, window - n), generator=generator, device=device)
    before = torch.zeros(batch, n, dtype=torch.long, device=device).scatter_add_(1, gaps, torch.ones_like(gaps))
    return torch.arange(n, device=device) + before.cumsum(1)


@hookimpl
def seqbench_register_tasks(register):
    register("selective-copy", SelectiveCopyTask,
             description="selective copying: recall 16 symbols (alphabet 8) scattered among T noise "
                         "tokens (cross-entropy on the recall steps)")
