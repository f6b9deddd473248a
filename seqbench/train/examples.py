"""Where a trial's training batches come from: a fresh stream drawn from the task at every step
(the default), or a finite training set (``train_examples``: N examples drawn once from the
trial's seed, ``Task.training_set``) served in shuffled epochs.

Epochs are consecutive random permutations of the N examples, read as one stream and cut into
batches of the batch size: every batch is full, and each stretch of N examples served from an
epoch boundary holds every example exactly once. The permutations come from their own generator
seeded with the trial's seed, on the CPU, so the order of examples depends on neither the batch
size nor the device (only where the stream is cut does).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch

Batch = tuple[torch.Tensor, torch.Tensor]


class FiniteTrainingSet:
    """N examples on ``device``, served ``batch`` at a time in shuffled epochs."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, seed: int, device: Any) -> None:
        self.x, self.y = x.to(device), y.to(device)
        self.count = int(x.shape[0])
        self.shuffler = torch.Generator(device="cpu").manual_seed(seed)
        self.pending = torch.empty(0, dtype=torch.long)  # the rest of the current epoch's order
        self.served = 0

    def next(self, batch: int) -> Batch:
        """The next ``batch`` examples of the epoch stream."""
        while self.pending.numel() < batch:
            self.pending = torch.cat([self.pending, torch.randperm(self.count, generator=self.shuffler)])
        taken, self.pending = self.pending[:batch], self.pending[batch:]
        self.served += batch
        index = taken.to(self.x.device)
        return self.x[index], self.y[index]

    @property
    def epochs(self) -> float:
        """Epochs served so far (examples served / N)."""
        return self.served / self.count


def training_batches(task: Any, spec: Any, generator: torch.Generator,
                     device: Any) -> tuple[Callable[[], Batch], Optional[FiniteTrainingSet]]:
    """A function giving the next training batch, and the finite set behind it (None: a stream,
    ``task.sample`` with ``generator`` at every step, exactly as without ``train_examples``)."""
    count = int(getattr(spec, "train_examples", 0) or 0)
    if count <= 0:
        return (lambda: task.sample(spec.batch, generator, device)), None
    x, y = task.training_set(count, spec.seed)
    examples = FiniteTrainingSet(x, y, spec.seed, device)
    return (lambda: examples.next(spec.batch)), examples
