"""The training loop shared by every cell and task, and evaluation on the held-out sets.

Adam (AdamW with ``weight_decay``), gradient-norm clipping, a fresh stream of examples or a
finite training set in epochs (``train_examples``, ``seqbench.train.examples``), a step budget
and/or a wall-clock budget (training time only: evaluation does not eat into it), periodic evaluation on the validation set, early stopping
(``patience``: the model is restored to its best validation evaluation), stopping once solved
(``stop_when_solved``: at the first evaluation whose whole validation set meets the task's
criterion), and divergence
detection (a non-finite loss or gradient norm stops the trial as ``diverged``). The loop does
no host sync per step: losses are checked every ``log_every`` steps, and step times use CUDA
events on GPU.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from seqbench.train.examples import training_batches
from seqbench.train.measure import StepTimer, synchronize

LogFn = Callable[[int, dict], None]


# evaluation slices hold about this many tokens (at least one training batch): measured on 2 cores
# (adding, T=50, 15,000 examples, 20k parameters), 2^14 evaluates the four classic cells 1.3x and the
# modern layers 1.3x faster than 2^16, whose larger intermediate tensors (S6's B·T·E·N) miss the cache
EVAL_TOKENS = 2 ** 14


def eval_slice(task: Any, batch: int) -> int:
    """Examples per evaluation forward pass: the training batch, or more when short sequences let
    a slice of ``EVAL_TOKENS`` tokens hold more (no gradients are kept, so memory stays bounded)."""
    return max(batch, EVAL_TOKENS // max(task.seq_len, 1))


@dataclass
class EvalSet:
    """Held-out examples of a trial, drawn once: the validation split (``Task.eval_batches``) or
    the test split (``Task.test_batches``), whose examples depend on neither the batch size nor
    the device (only the slicing does)."""

    batches: list[tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def draw(cls, task: Any, examples: Optional[int], batch: int, device: torch.device,
             split: str = "val") -> "EvalSet":
        """``examples`` held-out examples (None: the task's default, ``Task.held_out_examples``)
        in slices of ``eval_slice(task, batch)``."""
        batches = task.test_batches if split == "test" else task.eval_batches
        return cls(batches(examples, eval_slice(task, batch), device))

    @property
    def examples(self) -> int:
        return sum(x.shape[0] for x, _ in self.batches)

    def head(self, examples: int) -> "EvalSet":
        """The first ``examples`` examples (for quick periodic evaluations, ``quick_eval``)."""
        taken, out = 0, []
        for x, y in self.batches:
            if taken >= examples:
                break
            keep = min(x.shape[0], examples - taken)
            out.append((x[:keep], y[:keep]))
            taken += keep
        return EvalSet(out)


def evaluate(model: torch.nn.Module, task: Any, data: EvalSet) -> dict[str, float]:
    """Mean evaluation statistics (``loss`` and whatever else the task reports)."""
    totals: dict[str, list[float]] = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for x, y in data.batches:
            out, _ = model(x)
            for name, (total, count) in task.eval_sums(out, y).items():
                acc = totals.setdefault(name, [0.0, 0])
                acc[0] += total
                acc[1] += count
    model.train(was_training)
    return {name: (s / n if n else math.nan) for name, (s, n) in totals.items()}


@dataclass
class TrainOutcome:
    steps: int = 0
    train_s: float = 0.0
    status: str = "ok"
    step_seconds: list[float] = field(default_factory=list)
    steps_to_solve: Optional[int] = None
    last_loss: float = math.nan
    best_step: Optional[int] = None  # with patience: the evaluation the model was restored to
    stopped_early: bool = False
    epochs: Optional[float] = None  # with a finite training set: epochs trained (None: a stream)
    final_eval: Optional[dict[str, float]] = None  # the whole validation set on the final model, when evaluated


def train(model: torch.nn.Module, task: Any, spec: Any, device: torch.device, eval_set: EvalSet,
          log: Optional[LogFn] = None) -> TrainOutcome:
    """Train ``model`` on ``task`` as ``spec`` says; returns what happened (never raises on
    divergence). With ``spec.patience``, training stops after that many evaluations without a
    better validation value of the task's metric, and the model is restored to its best one.
    With ``spec.stop_when_solved``, training stops (``stopped_early``) at the first evaluation
    whose validation set meets ``task.solved``. Periodic evaluations use the whole validation set,
    or its first ``spec.quick_eval`` examples when set (stopping once solved then confirms on the
    whole set; ``steps_to_solve`` stays the validation step, and the caller clears it when the
    test set is not solved)."""
    log = log or (lambda step, metrics: None)
    generator = torch.Generator(device=device).manual_seed(spec.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = Adam(params, lr=spec.lr, weight_decay=getattr(spec, "weight_decay", 0.0) or 0.0)
    next_batch, finite = training_batches(task, spec, generator, device)
    quick = getattr(spec, "quick_eval", None)
    quick_eval = eval_set.head(quick) if quick else eval_set
    timer = StepTimer(device)
    outcome = TrainOutcome()
    tokens_per_step = spec.batch * task.seq_len
    recent: list[torch.Tensor] = []
    norms: list[torch.Tensor] = []
    eval_seconds = 0.0
    window_start, window_steps = time.perf_counter(), 0
    begin = time.perf_counter()
    stopper = EarlyStopping(task, spec.patience) if getattr(spec, "patience", None) else None
    model.train()

    while True:
        if spec.steps is not None and outcome.steps >= spec.steps:
            break
        if spec.budget_s is not None and time.perf_counter() - begin - eval_seconds >= spec.budget_s:
            break
        timer.start()
        x, y = next_batch()
        out, _ = model(x)
        loss = task.loss(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(params, spec.clip))
        optimizer.step()
        timer.stop()
        outcome.final_eval = None  # the model changed since the last evaluation
        recent.append(loss.detach())
        outcome.steps += 1
        window_steps += 1

        last = spec.steps is not None and outcome.steps >= spec.steps
        if outcome.steps % spec.log_every == 0 or last:
            mean_loss = _check_finite(recent, norms, outcome)
            if outcome.status == "diverged":
                break
            now = time.perf_counter()
            log(outcome.steps, {"loss": mean_loss, "tok_s": tokens_per_step * window_steps / (now - window_start),
                                "train_s": now - begin - eval_seconds, "tokens": tokens_per_step * outcome.steps})
            window_start, window_steps = now, 0

        if outcome.steps % spec.eval_every == 0:
            started = time.perf_counter()
            stats = evaluate(model, task, quick_eval)
            log(outcome.steps, {**{f"eval_{k}": v for k, v in stats.items()}, "train_s": started - begin - eval_seconds,
                                "tokens": tokens_per_step * outcome.steps})
            stop = _after_evaluation(model, task, spec, stats, quick_eval, eval_set, stopper, outcome)
            eval_seconds += time.perf_counter() - started
            window_start = time.perf_counter()
            if stop:
                outcome.stopped_early = True
                break

    if recent:  # steps since the last log (a budget can stop the loop between logs)
        _check_finite(recent, norms, outcome)
    synchronize(device)
    outcome.train_s = time.perf_counter() - begin - eval_seconds
    outcome.step_seconds, outcome.epochs = timer.seconds(), (finite.epochs if finite is not None else None)
    if stopper is not None and outcome.status == "ok":
        outcome.best_step = stopper.restore(model)
        if outcome.best_step != outcome.steps:
            outcome.final_eval = None  # restored to an earlier model
    return outcome


def _after_evaluation(model: torch.nn.Module, task: Any, spec: Any, stats: dict[str, float], quick_eval: EvalSet,
                      eval_set: EvalSet, stopper: Optional["EarlyStopping"], outcome: TrainOutcome) -> bool:
    """Record a periodic evaluation in ``outcome`` (``steps_to_solve``, ``final_eval`` when it saw
    the whole validation set) and say whether training stops: early stopping's patience ran out,
    or ``stop_when_solved`` and the whole validation set is solved (confirmed on it after a quick
    evaluation)."""
    outcome.final_eval = stats if quick_eval is eval_set else None
    if outcome.steps_to_solve is None and task.solved(stats):
        outcome.steps_to_solve = outcome.steps
    stop = stopper is not None and stopper.update(outcome.steps, stats, model)
    if getattr(spec, "stop_when_solved", False) and task.solved(stats) and not stop:
        if quick_eval is not eval_set:
            outcome.final_eval = evaluate(model, task, eval_set)
        stop = task.solved(outcome.final_eval)
    return stop


class Adam:
    """``torch.optim.Adam`` with its defaults (betas 0.9/0.999, eps 1e-8, no weight decay), bit for
    bit: the same state (``step`` a float32 CPU tensor, ``exp_avg``, ``exp_avg_sq``) passed to the
    same update, ``torch.optim.adam.adam``, which picks the same single-tensor (CPU) or foreach
    (CUDA) kernel. With ``weight_decay`` > 0 it is ``torch.optim.AdamW`` (decoupled weight decay,
    Loshchilov & Hutter 2019, on every parameter), bit for bit likewise; 0 is plain Adam. Without
    ``torch.optim.Optimizer``: its first ``add_param_group`` and every ``step`` import
    ``torch._dynamo`` (2-4 s on a 2-core machine), which a run never compiles."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        self.params, self.lr, self.betas, self.eps = list(params), float(lr), betas, eps
        self.weight_decay = float(weight_decay)
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        from torch.optim.adam import adam

        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in self.params:
            if p.grad is None:
                continue
            state = self.state.get(p)
            if state is None:
                scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
                state = self.state[p] = {"step": torch.tensor(0.0, dtype=scalar, device="cpu"),
                                         "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                                         "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        decoupled = self.weight_decay > 0.0
        adam(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False,
             has_complex=any(torch.is_complex(p) for p in params), beta1=self.betas[0], beta2=self.betas[1],
             lr=self.lr, weight_decay=self.weight_decay, eps=self.eps, maximize=False, foreach=None,
             capturable=False, differentiable=False, fused=None, grad_scale=None, found_inf=None,
             decoupled_weight_decay=decoupled)


class EarlyStopping:
    """Tracks the validation value of the task's metric (its ``solved_metric``) at each
    evaluation, keeps a copy of the best model's weights, and says when ``patience``
    evaluations in a row brought no improvement."""

    def __init__(self, task: Any, patience: int) -> None:
        self.metric = task.solved_metric
        self.higher = bool(task.solved_higher_is_better)
        self.patience = patience
        self.best: Optional[float] = None
        self.best_step: Optional[int] = None
        self.best_state: Optional[dict[str, torch.Tensor]] = None
        self.waited = 0

    def update(self, step: int, stats: dict[str, float], model: torch.nn.Module) -> bool:
        """Record an evaluation; True when training should stop."""
        value = stats.get(self.metric, stats.get("loss", math.nan))
        if math.isfinite(value) and (self.best is None or (value > self.best if self.higher else value < self.best)):
            self.best, self.best_step, self.waited = value, step, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, model: torch.nn.Module) -> Optional[int]:
        """Load the best evaluation's weights into ``model`` (when any evaluation happened);
        returns its step."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return self.best_step


def _check_finite(losses: list, norms: list, outcome: TrainOutcome) -> float:
    """Mean of the pending losses (one host sync); marks ``outcome`` diverged when a loss or
    gradient norm is not finite, and clears the pending lists."""
    mean_loss = torch.stack(losses).mean().item()
    finite = math.isfinite(mean_loss) and bool(torch.isfinite(torch.stack(norms)).all())
    losses.clear()
    norms.clear()
    outcome.last_loss = mean_loss
    if not finite:
        outcome.status = "diverged"
    return mean_loss
