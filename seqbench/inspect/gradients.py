"""Gradient flow over time: how much the loss read at one step depends on each earlier input.

For a batch of the task (the held-out set's first batch, drawn from ``EVAL_SEED``), the loss
is restricted to the **final scored step** t*: the last step at which the task's loss has a
non-zero gradient with respect to the model's outputs (for the adding problem, the last step;
for tasks scoring many steps, the last of them, e.g. the final recalled symbol of copy). Its
gradient with respect to the cell's input at step t (after the embedding, for token tasks),
``g_t = ∂L*/∂x_t``, is measured as the L2 norm over the batch and the features, and reported
against the distance d = t* − t + 1: d = 1 is the step where the loss is read, d = t* + 1
the first step. Everything runs in float64 on the CPU, so a vanishing gradient is measured
down to ~1e-300 instead of flushing to zero.

A model is measured at initialization (built as ``seqbench run`` builds trial ``seed``:
``torch.manual_seed(seed)``, then the registered factory) or from a checkpoint
(``seqbench run --save``). ``summarize`` fits the decay rate: the slope of log10 ‖g‖ against
d (decades per step, negative when the gradient vanishes), and the ratio ‖g‖ at d = T to d = 1.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence, Union

from seqbench.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd
    import torch

DEFAULT_LENGTH = 100  # the standard suite's T
DEFAULT_HIDDEN = 64  # seqbench run's default width
DEFAULT_BATCH = 64
COLUMNS = ("cell", "source", "task", "length", "hidden", "params", "distance", "grad_norm")
SUMMARY_COLUMNS = ("cell", "source", "task", "length", "hidden", "params", "grad_1", "grad_T", "ratio_T_1",
                   "slope_log10", "factor_per_step")
INIT = "init"  # the source of a model measured at initialization (seed 0; see init_source)


@dataclass
class Subject:
    """One model to measure: its cell name, where it comes from (``init`` or a checkpoint path)."""

    cell: str
    source: str
    model: Any  # a seqbench.models.model.SequenceModel
    hidden: int


def init_source(seed: int) -> str:
    """The ``source`` of a model at initialization: ``init``, or ``init, seed N`` for seeds N > 0."""
    return INIT if seed == 0 else f"{INIT}, seed {seed}"


def init_subject(registry: Any, cell: str, task: Any, hidden: int, seed: int = 0, layers: int = 1,
                 cell_params: Optional[dict] = None) -> Subject:
    """``cell`` at initialization, exactly as ``seqbench run`` builds trial seed ``seed``."""
    import torch

    from seqbench.models.model import build_model

    entry = registry.get("cell", cell)
    torch.manual_seed(seed)
    return Subject(cell, init_source(seed), build_model(task, entry, hidden, layers, 0.0, cell_params), hidden)


def solve_hidden(registry: Any, cell: str, task: Any, params: int, layers: int = 1,
                 cell_params: Optional[dict] = None) -> int:
    """The width at which ``cell``'s whole model lands within ±3 % of ``params`` (as ``--params``)."""
    from seqbench.models.budget import match_hidden

    return match_hidden(task, registry.get("cell", cell), params, layers, cell_params)[0]


def checkpoint_subject(path: Union[str, Path], registry: Any) -> tuple[Subject, dict]:
    """The trained model of checkpoint ``path`` and the checkpoint dict."""
    from seqbench.models.checkpoint import load_checkpoint, rebuild_model

    data = load_checkpoint(path)
    model = rebuild_model(data, registry)
    return Subject(data["model"]["cell"], str(path), model, int(data["model"]["hidden"])), data


def step_gradients(model: Any, task: Any, x: "torch.Tensor", y: "torch.Tensor") -> tuple["torch.Tensor", int]:
    """``(g, t*)``: g (batch, time, features) = ∂L*/∂(cell input at every step), L* the task's loss
    restricted to its final scored step t* (see the module docstring). Runs ``model`` as is."""
    import torch

    inputs = model.embed(x) if model.embed is not None else x
    inputs = inputs.detach().requires_grad_(True)
    out = model.head(model.cell(inputs)[0])
    (d_out,) = torch.autograd.grad(task.loss(out, y), out, retain_graph=True)
    scored = (d_out != 0).flatten(2).any(-1).any(0).nonzero()
    if not len(scored):
        raise UsageError("the task's loss has no gradient at any step of this batch (a perfect fit?)")
    t_star = int(scored[-1])
    mask = torch.zeros_like(d_out)
    mask[:, t_star] = 1
    (g,) = torch.autograd.grad(out, inputs, grad_outputs=d_out * mask)
    return g, t_star


def norms_by_distance(g: "torch.Tensor", t_star: int) -> list[float]:
    """‖g_t‖ (over batch and features) at distances 1 .. t* + 1 (distance 1 = step t*)."""
    per_step = g[:, : t_star + 1].pow(2).sum((0, 2)).sqrt()
    return per_step.flip(0).tolist()


def measure(subjects: Iterable[Subject], task: Any, task_name: str, batch: int = DEFAULT_BATCH) -> "pd.DataFrame":
    """The long-form gradient-flow frame (``COLUMNS``) of every subject on one held-out batch of
    ``task``, in float64 (each model is copied; the originals are left as they are)."""
    import pandas as pd
    import torch

    from seqbench.models.model import count_params

    x, y = task.eval_batches(batch, batch, "cpu")[0]
    x, y = (t.double() if t.is_floating_point() else t for t in (x, y))
    rows = []
    for subject in subjects:
        model = copy.deepcopy(subject.model).cpu().double().eval()
        with torch.enable_grad():
            g, t_star = step_gradients(model, task, x, y)
        base = {"cell": subject.cell, "source": subject.source, "task": task_name, "length": task.length,
                "hidden": subject.hidden, "params": count_params(model)}
        rows += [{**base, "distance": d, "grad_norm": n}
                 for d, n in enumerate(norms_by_distance(g, t_star), start=1)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def gradient_flow(cells: Optional[Sequence[str]] = None, task: Optional[str] = None, length: Optional[int] = None,
                  *, params: Any = None, hidden: Optional[int] = None, seed: int = 0,
                  checkpoints: Sequence[Union[str, Path]] = (), batch: int = DEFAULT_BATCH,
                  registry: Any = None) -> "pd.DataFrame":
    """Gradient flow of each cell at initialization and of each checkpoint, as a long DataFrame
    (``COLUMNS``; ``source`` is ``init`` or the checkpoint path).

    Cells are built at width ``hidden`` (64 by default) or, with ``params`` (``"20k"``), at the
    width matching that parameter budget, with seed ``seed``. Checkpoints are measured on their
    own task (and task parameters), at ``length`` when given, else at their own length. Without
    cells or checkpoints: every registered cell except the reference ones. ``frame.attrs`` holds
    ``task``, ``length``, ``params``, ``hidden``, ``seed`` (for titles).
    """
    from seqbench.spec.sizes import parse_params
    from seqbench.spec.config import positive_int
    from seqbench.plugins.registry import Registry
    from seqbench.plugins.factories import build_task
    from seqbench.inspect.options import non_negative_int

    registry = registry or Registry()
    if hidden is not None and params is not None:
        raise UsageError("give either a hidden size or a parameter budget (params), not both")
    budget = parse_params(params)
    width = positive_int("hidden", hidden) if hidden is not None else DEFAULT_HIDDEN
    batch, seed = positive_int("batch", batch), non_negative_int("seed", seed)
    loaded = [checkpoint_subject(path, registry) for path in checkpoints]
    task_name, task_params, length = _common_task(task, length, [data for _, data in loaded])
    names = registry.select_cells(cells) if cells or not loaded else []
    built = build_task(registry.get("task", task_name), length, task_params)
    subjects = []
    for name in names:
        h = solve_hidden(registry, name, built, budget) if budget is not None else width
        subjects.append(init_subject(registry, name, built, h, seed))
    frame = measure(subjects + [subject for subject, _ in loaded], built, task_name, batch)
    frame.attrs.update(task=task_name, length=length, params=budget, hidden=None if budget else width, seed=seed)
    return frame


def _common_task(task: Optional[str], length: Optional[int], checkpoints: list[dict]) -> tuple[str, dict, int]:
    """The task, its parameters and the length every subject is measured at."""
    from seqbench.spec.config import positive_int

    tasks = {data["task"]["name"] for data in checkpoints}
    if len(tasks) > 1:
        raise UsageError(f"the checkpoints are of different tasks ({', '.join(sorted(tasks))}); inspect one at a time")
    if tasks and task is not None and task not in tasks:
        raise UsageError(f"--task {task} does not match the checkpoints' task '{tasks.pop()}'")
    name = task or (tasks.pop() if tasks else "adding")
    params = checkpoints[0]["task"]["params"] if checkpoints else {}
    if length is not None:
        return name, params, positive_int("length", length)
    lengths = {int(data["task"]["length"]) for data in checkpoints}
    if len(lengths) > 1:
        raise UsageError(f"the checkpoints are of different lengths ({', '.join(map(str, sorted(lengths)))}); "
                         "give --length")
    return name, params, lengths.pop() if lengths else DEFAULT_LENGTH


def summarize(frame: "pd.DataFrame") -> "pd.DataFrame":
    """One row per cell and source (``SUMMARY_COLUMNS``): ‖g‖ at distance 1 and at distance T (the
    farthest), their ratio, and the least-squares slope of log10 ‖g‖ against distance (decades
    per step; ``factor_per_step`` = 10 ** slope), fitted over the distances with ‖g‖ > 0."""
    import pandas as pd

    rows = []
    for (cell, source), group in frame.groupby(["cell", "source"], sort=False):
        group = group.sort_values("distance")
        first, last = float(group["grad_norm"].iloc[0]), float(group["grad_norm"].iloc[-1])
        slope = fit_slope(group["distance"].tolist(), group["grad_norm"].tolist())
        rows.append({"cell": cell, "source": source, **{k: group[k].iloc[0] for k in ("task", "length", "hidden", "params")},
                     "grad_1": first, "grad_T": last, "ratio_T_1": last / first if first else math.nan,
                     "slope_log10": slope, "factor_per_step": 10 ** slope if math.isfinite(slope) else math.nan})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def fit_slope(distances: Sequence[float], norms: Sequence[float]) -> float:
    """Least-squares slope of log10(norm) against distance over the points with a finite norm > 0
    (NaN below two such points)."""
    points = [(d, math.log10(n)) for d, n in zip(distances, norms) if n > 0 and math.isfinite(n)]
    if len(points) < 2:
        return math.nan
    mx = sum(d for d, _ in points) / len(points)
    my = sum(v for _, v in points) / len(points)
    sxx = sum((d - mx) ** 2 for d, _ in points)
    return sum((d - mx) * (v - my) for d, v in points) / sxx if sxx else math.nan
