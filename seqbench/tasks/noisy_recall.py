"""Noisy in-context recall, MAD's version (Poli et al. 2024; ``generate_noisy_in_context_recall_instance``
in github.com/athms/mad-lab ``mad/data/instances.py``): in-context recall (see
``seqbench/tasks/in_context_recall.py``) where each key–value pair but the last is replaced, with
probability ``noise_share`` (MAD's ``frac_noise``), by two tokens drawn uniformly from a noise
vocabulary of ``noise_vocab_size`` ids (the top ids of ``vocab_size``). One pair before the
query is never noise, so a key always occurs before it. Noise tokens are targets of the
language-model training objective (as in MAD, which trains on every next token) but never
scored. The expected share of noise tokens is ``noise_share · (T/2 - 2) / (T/2)``, close to
``noise_share`` for long sequences.

Baseline: uniform guess over the value vocabulary at each scored step, ``ln |values|``; optimum 0;
solved: accuracy on the scored steps ≥ 0.99.

MAD's defaults (``configs/tasks/noisy-in-context-recall.yml``, ``mad/configs.py``): baseline setting
``vocab_size`` 32 with ``noise_vocab_size`` 16 (so 8 keys and 8 values, as in in-context recall),
``seq_len`` 128, ``frac_noise`` 0.2, 12,800 training examples, multi-query; the difficulty changes
are ``vocab_size`` 48/80/144 (16 of them noise), ``seq_len`` 256/512/1024, 6,400/3,200/1,600/800
training examples and ``frac_noise`` 0.4/0.6/0.8.
"""
from __future__ import annotations

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import int_param
from seqbench.tasks.in_context_recall import InContextRecallTask, noise_param


class NoisyRecallTask(InContextRecallTask):
    name = "noisy-recall"

    def __init__(self, length: int, vocab_size: int = 32, noise_share: float = 0.2,
                 noise_vocab_size: int = 16, train_on: str = "all") -> None:
        noise_vocab_size = int_param(self.name, "noise_vocab_size", noise_vocab_size, 1)
        self._setup(length, vocab_size, noise_vocab_size, noise_param(self.name, noise_share), train_on)


@hookimpl
def seqbench_register_tasks(register):
    register("noisy-recall", NoisyRecallTask,
             description="MAD's noisy in-context recall: in-context recall with a noise_share (0.2) of the "
                         "pairs replaced by noise tokens (vocab_size 32, 16 of them noise)")
