"""The figure of a MAD run (``seqbench plot RUN --kind mad``): a heat map of cells × tasks, each
square the cell's MAD score on the task (``studies.mad``), the last column its MAD score (the
mean over tasks). Takes DataFrames, returns a Figure (no pyplot state), like ``reporting.plots``.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from seqbench.errors import UsageError

CAPTION = "best lr × weight decay per setting (on validation), its test {metric}, averaged over the task's settings"


def mad_heatmap(tasks: Any, cells: Any, metric: str = "accuracy", *, budget: str = "",
                left_out: Optional[list] = None) -> Any:
    """Cells (rows, the run's order) × tasks (columns) coloured by score in [0, 1] (a
    colour-blind-safe sequential map), the value written in each square; a missing score is a
    grey square marked ``–`` and named in ``left_out``. UsageError when nothing has a score."""
    from matplotlib.figure import Figure

    if tasks is None or tasks.empty or not {"cell", "task", "score"} <= set(tasks.columns):
        raise UsageError("no MAD score to draw: the run has no finished trial of a task")
    task_names = list(dict.fromkeys(tasks["task"]))
    cell_names = list(dict.fromkeys(tasks["cell"]))
    scores = {(c, t): float(s) for c, t, s in zip(tasks["cell"], tasks["task"], tasks["score"])}
    overall = dict(zip(cells["cell"], cells["score"])) if cells is not None and not cells.empty else {}
    columns = [*task_names, "MAD score"]
    grid = [[scores.get((c, t), math.nan) for t in task_names] + [float(overall.get(c, math.nan))]
            for c in cell_names]
    if all(math.isnan(v) for row in grid for v in row):
        raise UsageError("no MAD score to draw: every score is missing (no usable configuration)")
    if left_out is not None:
        left_out += [f"{c} on {t} (no score)" for c in cell_names for t in task_names if math.isnan(scores.get((c, t),
                                                                                                           math.nan))]
    fig = Figure(figsize=(1.3 * len(columns) + 2.5, 0.5 * len(cell_names) + 1.8), layout="constrained")
    ax = fig.add_subplot()
    _squares(ax, grid)
    ax.set_xticks(range(len(columns)), [c.replace("-", "-\n", 1) for c in columns], fontsize=8)
    ax.set_yticks(range(len(cell_names)), cell_names)
    ax.axvline(len(task_names) - 0.5, color="white", linewidth=3)  # the mean apart from the tasks
    title = " · ".join(x for x in ("MAD", budget, f"test {metric}") if x)
    ax.set_title(f"{title}\n{CAPTION.format(metric=metric)}", fontsize=9)
    return fig


def _squares(ax: Any, grid: list[list[float]]) -> None:
    import numpy as np

    values = np.ma.masked_invalid(np.array(grid, dtype=float))
    cmap = _cmap()
    image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="score (0-1)", shrink=0.8)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            label = "–" if math.isnan(value) else f"{value:.2f}"
            dark = not math.isnan(value) and value < 0.6
            ax.text(j, i, label, ha="center", va="center", fontsize=8, color="white" if dark else "black")


def _cmap() -> Any:
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].copy()  # perceptually uniform, colour-blind safe
    cmap.set_bad("#d9d9d9")
    return cmap
