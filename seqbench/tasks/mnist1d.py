"""MNIST-1D (Greydanus 2020, "Scaling down deep learning", arXiv:2011.14439): classify a noisy
one-dimensional "digit" of 40 steps into one of 10 classes.

Data: the paper's dataset, built procedurally by the optional ``mnist1d`` package with the
paper's data seed (``seqbench.data.mnist1d``; ``pip install 'seqbench[mnist1d]'``, no download):
4,000 training and 1,000 test examples. The validation split is carved from the training part:
its last ``val_examples`` (default 500; the examples are in random order), so models train on
3,500 examples (the paper trains on all 4,000 and selects nothing). The test split is the
paper's 1,000. ``shuffle_seq=True`` is the paper's shuffled variant: one fixed permutation of
the 40 time steps, the same for every example of every split, which destroys the local
structure that convolutions and recurrences exploit. Training batches are drawn uniformly
(with replacement) from the training split with the trial's generator; the held-out sets are
the whole validation and test splits (``eval_examples`` takes their first examples).

Input: one continuous channel, shape (batch, T, 1); ``T`` is the dataset's
``final_seq_length`` (the paper's is 40; other lengths resample the same digits, a different
dataset that the published numbers do not describe). Output: 10 logits, read at the last step
only (cross-entropy; ``accuracy`` is the fraction classified right). This is a *causal*
reading: the model has seen the whole sequence once, left to right, when it answers. The
paper's GRU is bidirectional and its linear classifier reads the outputs of every step, so
the published 91 % is not the same protocol as seqbench's last-step GRU.

Baseline: a uniform guess over the 10 classes, loss ln 10 ≈ 2.303 and 10 % accuracy (the
classes are balanced: 500 examples each, about 100 per class in the test split). Solved:
test accuracy ≥ 0.90, about the paper's GRU (91 %) and below its CNN (94 %) and the human
expert (96 %), far above its logistic regression (32 %) and MLP (68 %); in the shuffled
variant no published model reaches it (CNN 56 %, GRU 57 %).
"""
from __future__ import annotations

import math
from typing import Any, Optional

from seqbench.data.mnist1d import load_mnist1d
from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import Batches, Task, int_param, uniform_logits

CLASSES = 10
TRAIN_EXAMPLES = 4000  # the paper's training part; the validation split is carved from it
SOLVED_ACCURACY = 0.90


class MNIST1DTask(Task):
    input_kind = "continuous"
    solved_metric = "accuracy"
    solved_threshold = SOLVED_ACCURACY
    solved_higher_is_better = True
    baseline_description = "uniform guess over the 10 digits (ln 10; 10 % accuracy)"
    held_out_examples = None  # the whole validation and test splits

    def __init__(self, length: int, shuffle_seq: bool = False, val_examples: int = 500) -> None:
        super().__init__(length)
        if not isinstance(shuffle_seq, bool):
            raise ValueError(f"mnist1d: shuffle_seq must be true or false, got {shuffle_seq!r}")
        self.val_examples = int_param("mnist1d", "val_examples", val_examples, 1)
        if val_examples >= TRAIN_EXAMPLES:
            raise ValueError(f"mnist1d: val_examples must be below the {TRAIN_EXAMPLES:,} training examples, "
                             f"got {val_examples}")
        self.shuffle_seq = shuffle_seq
        self.input_size, self.output_size = 1, CLASSES
        self.splits = _splits(load_mnist1d(length, shuffle_seq), TRAIN_EXAMPLES - val_examples)
        self._on_device: dict[str, dict[str, tuple[Any, Any]]] = {}

    def _split(self, name: str, device: Any) -> tuple[Any, Any]:
        """``(x, y)`` of a split (``train``, ``val`` or ``test``) on ``device``, moved there once."""
        import torch

        key = str(torch.device(device))
        if key not in self._on_device:
            self._on_device[key] = {n: (x.to(device), y.to(device)) for n, (x, y) in self.splits.items()}
        return self._on_device[key][name]

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        """Training examples drawn uniformly, with replacement, with ``generator``."""
        import torch

        x, y = self._split("train", device)
        index = torch.randint(0, x.shape[0], (batch_size,), generator=generator, device=device)
        return x[index], y[index]

    def held_out_size(self, examples: Optional[int] = None) -> Optional[int]:
        """Examples of the validation split evaluated for ``examples`` (None: all of them)."""
        available = self.splits["val"][0].shape[0]
        return available if examples is None else min(max(examples, 0), available)

    def split_batches(self, split: str, examples: Optional[int], batch_size: int, device: Any) -> Batches:
        """The first ``examples`` (None: all) examples of ``split`` in batches of ``batch_size``."""
        x, y = self._split(split, device)
        count = x.shape[0] if examples is None else min(max(examples, 0), x.shape[0])
        x, y = x[:count], y[:count]
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, count, batch_size)]

    def eval_batches(self, examples: Optional[int], batch_size: int, device: Any) -> Batches:
        """The validation split: the last ``val_examples`` of the paper's 4,000 training examples."""
        return self.split_batches("val", examples, batch_size, device)

    def test_batches(self, examples: Optional[int], batch_size: int, device: Any) -> Batches:
        """The paper's 1,000 test examples; for final reports only, never for selection."""
        return self.split_batches("test", examples, batch_size, device)

    def loss(self, out: Any, y: Any) -> Any:
        import torch.nn.functional as F

        return F.cross_entropy(out[:, -1], y)

    def eval_sums(self, out: Any, y: Any) -> dict[str, tuple[float, int]]:
        import torch.nn.functional as F

        logits = out[:, -1]
        ce = F.cross_entropy(logits, y, reduction="sum").item()
        correct = (logits.argmax(-1) == y).sum().item()
        return {"loss": (ce, y.numel()), "accuracy": (correct, y.numel())}

    @property
    def baseline(self) -> float:
        return math.log(CLASSES)

    def baseline_output(self, x: Any) -> Any:
        return uniform_logits((x.shape[0], x.shape[1]), slice(None), CLASSES)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "shuffle_seq": self.shuffle_seq,
                "splits": {name: int(x.shape[0]) for name, (x, _) in self.splits.items()}}


def _splits(data: dict[str, Any], train: int) -> dict[str, tuple[Any, Any]]:
    """Float32 inputs of shape (examples, T, 1) and int64 labels: the first ``train`` training
    examples, the rest of the training part (validation), and the test part."""
    import torch

    x = torch.as_tensor(data["x"], dtype=torch.float32).unsqueeze(-1)
    y = torch.as_tensor(data["y"], dtype=torch.long)
    x_test = torch.as_tensor(data["x_test"], dtype=torch.float32).unsqueeze(-1)
    return {"train": (x[:train], y[:train]), "val": (x[train:], y[train:]),
            "test": (x_test, torch.as_tensor(data["y_test"], dtype=torch.long))}


@hookimpl
def seqbench_register_tasks(register):
    register("mnist1d", MNIST1DTask,
             description="MNIST-1D (Greydanus 2020): classify a 40-step 1-D digit, read at the last step "
                         "(optional package: pip install 'seqbench[mnist1d]')")
