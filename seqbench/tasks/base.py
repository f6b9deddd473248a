"""What a task is: a seeded, vectorized batch generator with a loss, evaluation statistics,
a trivial baseline and a definition of "solved".

A task is built for one sequence length ``T`` by its factory, ``factory(length, **params)``.
Models see inputs ``x`` of shape (batch, seq_len) of token ids (``input_kind == "tokens"``)
or (batch, seq_len, input_size) of floats (``"continuous"``), and produce outputs of shape
(batch, seq_len, output_size) from which the task reads what it needs.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional

if TYPE_CHECKING:
    import torch

EVAL_SEED = 1_000_003  # the validation set is drawn from this seed, never from a training seed
TEST_SEED = 2_000_003  # the test set: another fixed seed, so validation and test never overlap in draws
IGNORE = -100  # target of steps that are not scored (F.cross_entropy's ignore_index)


def int_param(task: str, name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an integer >= ``minimum``; else a ValueError naming task and parameter
    (values come from the command line, so bools, floats and strings are refused too)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{task}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def primary_metric(tasks: Mapping[str, Any], task: str, length: Any) -> tuple[str, bool]:
    """The metric a task is judged by (its "solved" metric) and whether higher is better, read
    from a run's task descriptions (``Task.describe`` by ``"task|length"``); loss when undescribed."""
    info = tasks.get(f"{task}|{length}", {})
    return info.get("metric", "loss"), bool(info.get("metric_higher_is_better", False))


class Task:
    """Base class for tasks. Subclasses set the class attributes and implement the methods."""

    input_kind: ClassVar[str]  # "tokens" or "continuous"
    input_size: int  # vocabulary size or number of input features
    output_size: int  # number of classes or regression outputs
    predicts_tokens: ClassVar[bool] = False  # whether perplexity / bits per token apply
    solved_metric: ClassVar[str] = "loss"
    solved_threshold: ClassVar[float]
    solved_higher_is_better: ClassVar[bool] = False
    # Whether the task's data are defined at every length with the same vocabulary and outputs, so
    # that a model trained at one length can be evaluated at another (``run --eval-lengths``).
    any_length: ClassVar[bool] = False

    def __init__(self, length: int) -> None:
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ValueError(f"sequence length must be a positive integer, got {length!r}")
        self.length = length

    # -- data ---------------------------------------------------------------------------

    @property
    def seq_len(self) -> int:
        """Number of time steps the model sees per example (the tokens counted for tok/s)."""
        return self.length

    def sample(self, batch_size: int, generator: "torch.Generator", device: Any) -> tuple["torch.Tensor", "torch.Tensor"]:
        """A batch ``(x, y)`` drawn with ``generator`` on ``device``."""
        raise NotImplementedError

    def eval_batches(self, examples: int, batch_size: int, device: Any) -> list[tuple["torch.Tensor", "torch.Tensor"]]:
        """The validation set as a list of batches: evaluated during training, read by early
        stopping and tuning.

        By default ``examples`` examples drawn with ``sample`` from the fixed ``EVAL_SEED``
        (never a training seed). Tasks with a fixed held-out split (e.g. a corpus) override it
        and ``test_batches``.
        """
        return self._drawn(EVAL_SEED, examples, batch_size, device)

    def test_batches(self, examples: int, batch_size: int, device: Any) -> list[tuple["torch.Tensor", "torch.Tensor"]]:
        """The test set, scored once after training for the reported numbers; never read by
        selection. By default drawn like ``eval_batches`` from another fixed seed, ``TEST_SEED``."""
        return self._drawn(TEST_SEED, examples, batch_size, device)

    def _drawn(self, seed: int, examples: int, batch_size: int, device: Any) -> list[tuple["torch.Tensor", "torch.Tensor"]]:
        import torch

        generator = torch.Generator(device=device).manual_seed(seed)
        sizes = [batch_size] * (examples // batch_size) + ([examples % batch_size] if examples % batch_size else [])
        return [self.sample(size, generator, device) for size in sizes]

    # -- objective ----------------------------------------------------------------------

    def loss(self, out: "torch.Tensor", y: "torch.Tensor") -> "torch.Tensor":
        """Scalar training loss of model outputs ``out`` against targets ``y``."""
        raise NotImplementedError

    def eval_sums(self, out: "torch.Tensor", y: "torch.Tensor") -> dict[str, tuple[float, int]]:
        """Per-batch ``{statistic: (sum, count)}``; the harness divides the totals.

        Always ``loss``; token-predicting tasks add ``ce_nats`` (cross-entropy per predicted
        token) and classification tasks ``accuracy``.
        """
        raise NotImplementedError

    # -- reference points ---------------------------------------------------------------

    @property
    def baseline(self) -> float:
        """Loss of the trivial baseline (a model that ignores the dependency)."""
        raise NotImplementedError

    baseline_description: ClassVar[str] = ""

    @property
    def optimum(self) -> Optional[float]:
        """Lowest achievable expected loss, where it is known exactly (else ``None``)."""
        return None

    def solved(self, stats: Mapping[str, float]) -> bool:
        """Whether aggregated evaluation statistics count as solving the task."""
        value = stats.get(self.solved_metric, math.nan)
        if math.isnan(value):
            return False
        if self.solved_higher_is_better:
            return value >= self.solved_threshold
        return value < self.solved_threshold

    @property
    def solved_description(self) -> str:
        op = "≥" if self.solved_higher_is_better else "<"
        return f"{self.solved_metric} {op} {self.solved_threshold:g}"

    def describe(self) -> dict[str, Any]:
        """Plain description recorded with every run."""
        return {
            "seq_len": self.seq_len,
            "input_kind": self.input_kind,
            "input_size": self.input_size,
            "output_size": self.output_size,
            "baseline": self.baseline,
            "baseline_description": self.baseline_description,
            "optimum": self.optimum,
            "solved": self.solved_description,
            "metric": self.solved_metric,
            "metric_higher_is_better": self.solved_higher_is_better,
        }


class TokenTask(Task):
    """A task that predicts tokens: cross-entropy loss, and ``ce_nats`` and ``accuracy`` over
    the scored steps. Targets equal to ``IGNORE`` are not scored; ``scored`` may also narrow
    the steps (e.g. to a recall window)."""

    input_kind = "tokens"
    predicts_tokens = True

    def scored(self, out: "torch.Tensor", y: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
        """The logits and targets of the scored steps (all of them by default)."""
        return out, y

    def loss(self, out: "torch.Tensor", y: "torch.Tensor") -> "torch.Tensor":
        import torch.nn.functional as F

        logits, target = self.scored(out, y)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE)

    def eval_sums(self, out: "torch.Tensor", y: "torch.Tensor") -> dict[str, tuple[float, int]]:
        import torch.nn.functional as F

        logits, target = self.scored(out, y)
        logits, target = logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
        scored = target != IGNORE
        count = int(scored.sum().item())
        ce = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="sum").item()
        correct = ((logits.argmax(-1) == target) & scored).sum().item()
        return {"loss": (ce, count), "ce_nats": (ce, count), "accuracy": (correct, count)}
