"""The adding problem (Hochreiter & Schmidhuber 1997; in the form of Le et al. 2015).

Each step carries two channels: a value drawn uniformly from [0, 1] and a marker. Exactly
one marker is set in the first half of the sequence and one in the second half; the target
is the sum of the two marked values, read from the model's output at the last step.
Predicting the mean (1) whatever the input gives MSE = Var(U1 + U2) = 2/12 ≈ 0.167; a model that
keeps only one of the two values (and predicts it plus 1/2) gives Var(U2) = 1/12 ≈ 0.083.

Held-out sets: the baseline's squared error (U1 + U2 - 1)² has mean 1/6 and variance
E[(U1 + U2 - 1)⁴] - 1/36 = 1/15 - 1/36 = 7/180, so the standard error of its mean over n examples
is at most 1 % of 1/6 for n ≥ (√(7/180) · 6 / 0.01)² ≈ 14,000; each set holds 15,000 by default.
"""
from __future__ import annotations

from typing import Any

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import Task


class AddingTask(Task):
    any_length = True  # defined at every T: a model trained at one T can be evaluated at another
    input_kind = "continuous"
    solved_metric = "loss"
    solved_threshold = 0.01
    baseline_description = "always predict 1 (MSE = 1/6)"
    held_out_examples = 15_000  # the baseline's standard error ≤ 1 % of it (see the module's docstring)

    def __init__(self, length: int) -> None:
        super().__init__(length)
        if length < 2:
            raise ValueError("adding needs length >= 2 (one marker in each half)")
        self.input_size = 2
        self.output_size = 1

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        import torch

        T, half = self.length, self.length // 2
        values = torch.rand(batch_size, T, generator=generator, device=device)
        first = torch.randint(0, half, (batch_size, 1), generator=generator, device=device)
        second = torch.randint(half, T, (batch_size, 1), generator=generator, device=device)
        markers = torch.zeros(batch_size, T, device=device)
        markers.scatter_(1, first, 1.0).scatter_(1, second, 1.0)
        x = torch.stack((values, markers), dim=-1)
        y = (values * markers).sum(dim=1)
        return x, y

    def loss(self, out: Any, y: Any) -> Any:
        return (out[:, -1, 0] - y).pow(2).mean()

    def eval_sums(self, out: Any, y: Any) -> dict[str, tuple[float, int]]:
        squared = (out[:, -1, 0] - y).pow(2)
        return {"loss": (squared.sum().item(), squared.numel())}

    @property
    def baseline(self) -> float:
        return 1.0 / 6.0

    def baseline_output(self, x: Any) -> Any:
        import torch

        return torch.ones(x.shape[0], x.shape[1], 1)

    @property
    def references(self) -> dict[str, float]:
        return {"one value kept": 1.0 / 12.0}


@hookimpl
def seqbench_register_tasks(register):
    register("adding", AddingTask,
             description="adding problem: sum the two marked values of a 2-channel sequence (MSE)")
