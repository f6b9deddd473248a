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
# a finite training set (``--train-examples``) is drawn from the trial's seed + this: above both held-out
# seeds for every seed >= 0, so it never repeats the validation or the test draws
TRAIN_SEED_OFFSET = 3_000_017
DRAW_CHUNK = 1024  # held-out sets are drawn this many examples at a time, whatever the batch size
Batches = list[tuple["torch.Tensor", "torch.Tensor"]]  # a held-out set, sliced
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
    # Whether the loss and the evaluation read the model's output at the last step only, so that the
    # model applies its head there alone (outputs of shape (batch, 1, output_size)): the same numbers,
    # without a head's worth of unused work at every other step (compression's T × vocab decoder).
    reads_last_step_only: ClassVar[bool] = False

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

    # Default size of the validation and of the test set (``eval_examples`` unset): large enough that
    # the standard error of the baseline's loss is at most 1 % of it, or, where the baseline's loss is
    # the same on every example (a uniform guess), that of a 0.99 accuracy is about 0.001. None: the
    # whole fixed split (e.g. a corpus).
    held_out_examples: ClassVar[Optional[int]] = 1024

    def held_out_size(self, examples: Optional[int] = None) -> Optional[int]:
        """The number of held-out examples asked for: ``examples``, or the task's default."""
        return self.held_out_examples if examples is None else examples

    def eval_batches(self, examples: Optional[int], batch_size: int, device: Any) -> Batches:
        """The validation set as a list of batches: evaluated during training, read by early
        stopping and tuning.

        By default ``examples`` examples (None: ``held_out_examples``) drawn with ``sample`` from the
        fixed ``EVAL_SEED`` (never a training seed), on the CPU, then moved to ``device`` and cut into
        batches of ``batch_size``: the same examples whatever the batch size and the device. Tasks with
        a fixed held-out split (e.g. a corpus) override it and ``test_batches``.
        """
        return self._drawn(EVAL_SEED, examples, batch_size, device)

    def test_batches(self, examples: Optional[int], batch_size: int, device: Any) -> Batches:
        """The test set, scored once after training for the reported numbers; never read by
        selection. By default drawn like ``eval_batches`` from another fixed seed, ``TEST_SEED``."""
        return self._drawn(TEST_SEED, examples, batch_size, device)

    def held_out(self, seed: int, examples: Optional[int] = None) -> tuple["torch.Tensor", "torch.Tensor"]:
        """The whole held-out set ``(x, y)`` drawn from ``seed`` on the CPU, in chunks of ``DRAW_CHUNK``
        examples (so neither the batch size nor the device changes a single draw)."""
        count = self.held_out_size(examples)
        if count is None or count < 1:
            raise ValueError(f"held-out examples must be a positive integer, got {count!r}")
        return self._draw_chunks(seed, count)

    def training_set(self, examples: int, seed: int) -> tuple["torch.Tensor", "torch.Tensor"]:
        """A finite training set (``--train-examples``): ``examples`` examples drawn once, like the
        held-out sets, from the trial's ``seed`` + ``TRAIN_SEED_OFFSET``; the same examples whatever
        the batch size and the device."""
        return self._draw_chunks(TRAIN_SEED_OFFSET + seed, examples)

    def _draw_chunks(self, seed: int, count: int) -> tuple["torch.Tensor", "torch.Tensor"]:
        import torch

        generator = torch.Generator(device="cpu").manual_seed(seed)
        chunks = [self.sample(min(DRAW_CHUNK, count - start), generator, "cpu")
                  for start in range(0, count, DRAW_CHUNK)]
        return torch.cat([x for x, _ in chunks]), torch.cat([y for _, y in chunks])

    def _drawn(self, seed: int, examples: Optional[int], batch_size: int, device: Any) -> Batches:
        x, y = self.held_out(seed, examples)
        x, y = x.to(device), y.to(device)
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]

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

    def baseline_output(self, x: "torch.Tensor") -> Optional["torch.Tensor"]:
        """What the trivial baseline outputs for inputs ``x`` (shape (batch, seq_len, output_size)),
        so that its loss can be measured on the held-out sets (``measured_baseline``); None where
        the task gives none."""
        return None

    @property
    def references(self) -> dict[str, float]:
        """Further known reference losses between the baseline and the optimum, by description."""
        return {}

    @property
    def chance_accuracy(self) -> Optional[float]:
        """Accuracy of the memoryless uniform guess the baseline describes, where the task scores
        accuracy and it is known (else ``None``)."""
        return None

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
            "baseline_measured": measured_baseline(self),  # on the default test set
            "held_out_examples": self.held_out_size(),
            "references": self.references,
            "chance_accuracy": self.chance_accuracy,
            "optimum": self.optimum,
            "solved": self.solved_description,
            "metric": self.solved_metric,
            "metric_higher_is_better": self.solved_higher_is_better,
        }


def measured_baseline(task: Task, examples: Optional[int] = None, split: str = "test") -> Optional[float]:
    """The trivial baseline's loss measured on the task's ``split`` ("test" or "val") set of
    ``examples`` (None: the task's default size), beside its analytic ``baseline``; None when the
    task gives no ``baseline_output``. Evaluated on the CPU in slices of at most 2^22 output floats."""
    import torch

    batches = task.test_batches if split == "test" else task.eval_batches
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in batches(examples, max(1, 2 ** 22 // (task.seq_len * task.output_size)), "cpu"):
            out = task.baseline_output(x)
            if out is None:
                return None
            # in float64: a float32 sum over thousands of scored steps drifts by ~1e-4 (relative), enough
            # to show a "(baseline on test)" row beside an analytic baseline it equals
            y = y.double() if y.is_floating_point() else y
            s, n = task.eval_sums(out.double(), y)["loss"]
            total, count = total + s, count + n
    return total / count if count else None


def reference_rows(info: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The rows a run table shows beside its analytic baseline, from a task's description
    (``Task.describe``, a run's config.json): the baseline measured on the test set (unless it
    equals the analytic one to 5 digits, as a uniform guess does), then the further known
    references (``Task.references``)."""
    rows = []
    measured, analytic = info.get("baseline_measured"), info.get("baseline")
    if measured is not None and not (analytic is not None and math.isclose(measured, analytic, rel_tol=1e-5)):
        rows.append(("(baseline on test)", float(measured)))
    rows += [(f"({name})", float(value)) for name, value in (info.get("references") or {}).items()]
    return rows


def uniform_logits(shape: tuple[int, ...], among: Any, size: int) -> "torch.Tensor":
    """Logits of a uniform guess over the classes ``among`` (a slice or index list) of ``size``:
    0 there, -1e4 elsewhere (a probability of e^-1e4, zero in float32)."""
    import torch

    logits = torch.full((*shape, size), -1e4)
    logits[..., among] = 0.0
    return logits


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
