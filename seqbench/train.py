"""The training loop shared by every cell and task, and evaluation on the held-out set.

Adam, gradient-norm clipping, a step budget and/or a wall-clock budget (training time only:
evaluation does not eat into it), periodic evaluation, and divergence detection (a non-finite
loss or gradient norm stops the trial as ``diverged``). The loop does no host sync per step:
losses are checked every ``log_every`` steps, and step times use CUDA events on GPU.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from .measure import StepTimer, synchronize

LogFn = Callable[[int, dict], None]


@dataclass
class EvalSet:
    """The held-out examples of a trial, drawn once (see ``Task.eval_batches``)."""

    batches: list[tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def draw(cls, task: Any, examples: int, batch: int, device: torch.device) -> "EvalSet":
        return cls(task.eval_batches(examples, batch, device))

    def head(self, examples: int) -> "EvalSet":
        """The first batches holding at least ``examples`` examples (for quick periodic evals)."""
        taken, out = 0, []
        for x, y in self.batches:
            if taken >= examples:
                break
            out.append((x, y))
            taken += x.shape[0]
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


def train(model: torch.nn.Module, task: Any, spec: Any, device: torch.device, eval_set: EvalSet,
          log: Optional[LogFn] = None) -> TrainOutcome:
    """Train ``model`` on ``task`` as ``spec`` says; returns what happened (never raises on
    divergence)."""
    log = log or (lambda step, metrics: None)
    generator = torch.Generator(device=device).manual_seed(spec.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=spec.lr)
    quick_eval = eval_set.head(256)
    timer = StepTimer(device)
    outcome = TrainOutcome()
    tokens_per_step = spec.batch * task.seq_len
    recent: list[torch.Tensor] = []
    norms: list[torch.Tensor] = []
    eval_seconds = 0.0
    window_start, window_steps = time.perf_counter(), 0
    begin = time.perf_counter()
    model.train()

    while True:
        if spec.steps is not None and outcome.steps >= spec.steps:
            break
        if spec.budget_s is not None and time.perf_counter() - begin - eval_seconds >= spec.budget_s:
            break
        timer.start()
        x, y = task.sample(spec.batch, generator, device)
        out, _ = model(x)
        loss = task.loss(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(params, spec.clip))
        optimizer.step()
        timer.stop()
        recent.append(loss.detach())
        outcome.steps += 1
        window_steps += 1

        last = spec.steps is not None and outcome.steps >= spec.steps
        if outcome.steps % spec.log_every == 0 or last:
            mean_loss = _check_finite(recent, norms, outcome)
            if outcome.status == "diverged":
                break
            now = time.perf_counter()
            log(outcome.steps, {"loss": mean_loss, "tok_s": tokens_per_step * window_steps / (now - window_start)})
            window_start, window_steps = now, 0

        if outcome.steps % spec.eval_every == 0:
            started = time.perf_counter()
            stats = evaluate(model, task, quick_eval)
            if outcome.steps_to_solve is None and task.solved(stats):
                outcome.steps_to_solve = outcome.steps
            log(outcome.steps, {f"eval_{k}": v for k, v in stats.items()})
            eval_seconds += time.perf_counter() - started
            window_start = time.perf_counter()

    if recent:  # steps since the last log (a budget can stop the loop between logs)
        _check_finite(recent, norms, outcome)
    synchronize(device)
    outcome.train_s = time.perf_counter() - begin - eval_seconds
    outcome.step_seconds = timer.seconds()
    return outcome


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
