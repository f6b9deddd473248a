"""Compression, MAD's version (Poli et al. 2024; ``generate_compression_instance`` in
github.com/athms/mad-lab ``mad/data/instances.py`` and its ``mad/model/auto_encoder.py``, read, not
copied): the model reads a random sequence and must reconstruct all of it from its state at the
last step, so the task measures how much a fixed-size state can hold.

Input: ``T - 1`` tokens drawn uniformly from ``vocab_size - 1`` ids, then the end marker
``vocab_size - 1``: ``T`` steps. Target: the whole input, the marker included (MAD's targets are
the inputs).

How the reconstruction is read. MAD encodes the sequence, keeps the encoder's output at the last
position and decodes every position ``i`` from it with a small MLP (two dim×dim layers with a
sinusoidal embedding of ``i``) and an unembedding. seqbench's model reads the cell's output through
one linear head, so here the head is the decoder: the task's ``output_size`` is
``T × vocab_size``, and only the output at the last step is read, as ``T`` rows of
``vocab_size`` logits (row ``i`` predicts token ``i``). The bottleneck is MAD's (one hidden vector
after the marker); the decoder is linear where MAD's is a two-layer MLP, so this version is, if
anything, harder. The head costs ``hidden × T × vocab_size`` parameters (counted in a ``--params``
budget, so the cell is narrower than on the other tasks) and, as only the last step is read
(``reads_last_step_only``), the model applies it at that step alone: ``T × vocab_size`` outputs
per sequence, not ``T`` times that (at T = 32, vocab 16: 512 outputs once, not at each of 32 steps).

Loss: cross-entropy over the ``T`` reconstructed tokens; accuracy over them. Baseline: a model
that keeps nothing predicts the marker at the last position (it is always there) and guesses
uniformly elsewhere, ``(T - 1) · ln(vocab_size - 1) / T``; optimum 0. Solved: accuracy ≥ 0.99.

MAD's defaults (``configs/tasks/compression.yml``, ``mad/configs.py``): baseline setting
``vocab_size`` 16, ``seq_len`` 32, 12,800 training examples; the difficulty changes are
``vocab_size`` 32/64/128, ``seq_len`` 64/128/256 and 6,400/3,200/1,600/800 training examples.
MAD's noise options (unused by its benchmark) are left out.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import TokenTask, int_param


class CompressionTask(TokenTask):
    any_length = False  # the head's size depends on T: a model is tied to its length
    reads_last_step_only = True  # the decoder is read at the last step only: applied there alone
    solved_metric = "accuracy"
    solved_threshold = 0.99
    solved_higher_is_better = True
    baseline_description = "the end marker where it is, uniform guesses elsewhere ((T-1)·ln(V-1)/T)"

    def __init__(self, length: int, vocab_size: int = 16) -> None:
        super().__init__(length)
        self.vocab_size = int_param("compression", "vocab_size", vocab_size, 3)
        if length < 2:
            raise ValueError(f"compression: the length T = {length} must be >= 2 (tokens, then the end marker)")
        self.input_size = vocab_size
        self.output_size = length * vocab_size  # the decoder: T rows of vocab_size logits

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        import torch

        x = torch.randint(0, self.vocab_size - 1, (batch_size, self.length), generator=generator, device=device)
        x[:, -1] = self.vocab_size - 1
        return x, x.clone()

    def scored(self, out: Any, y: Any) -> tuple[Any, Any]:
        """The last step's output as (batch, T, vocab_size) logits, and the whole sequence."""
        return out[:, -1].reshape(out.shape[0], self.length, self.vocab_size), y

    @property
    def baseline(self) -> float:
        return (self.length - 1) * math.log(self.vocab_size - 1) / self.length

    def baseline_output(self, x: Any) -> Any:
        import torch

        rows = torch.zeros(self.length, self.vocab_size)
        rows[:-1, -1] = -1e4  # uniform over the tokens
        rows[-1, :-1] = -1e4  # certain of the marker
        return rows.reshape(1, 1, -1).expand(x.shape[0], self.seq_len, -1)

    @property
    def optimum(self) -> Optional[float]:
        return 0.0


@hookimpl
def seqbench_register_tasks(register):
    register("compression", CompressionTask,
             description="MAD's compression: reconstruct T random tokens (vocab_size 16) from the last "
                         "step's output through a linear decoder head (T x vocab outputs)")
