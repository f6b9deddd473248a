"""Gradient flow of every trained model of a run directory (what ``seqbench run --inspect`` adds).

For each checkpoint in ``RUN_DIR/checkpoints/`` (``seqbench run --save``), the gradient flow of
the trained model and of the same model at initialization (same cell, width and seed), on its
task at its length. Written to ``RUN_DIR/inspect/``: ``gradients.csv`` (long form, every
checkpoint), ``gradients-summary.csv`` (one row per cell and source) and one figure per task
and length, ``gradients-TASK-T.png``. ``run_figures`` rebuilds the figures from the CSV (e.g. as
SVG text for an HTML report, with ``figures.figure_svg``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from seqbench.errors import UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INSPECT_DIR = "inspect"
GRADIENTS_CSV = "gradients.csv"
SUMMARY_CSV = "gradients-summary.csv"


def figure_name(task: str, length: int) -> str:
    """``gradients-adding-100.png``."""
    return f"gradients-{task}-{length}.png"


def inspect_run(run_dir: Union[str, Path], registry: Any = None, figures: bool = True,
                batch: Optional[int] = None) -> list[Path]:
    """Measure every checkpoint of ``run_dir`` (trained and at init) and write the CSVs and, with
    ``figures`` (needs matplotlib: UsageError before any work otherwise), one PNG per task and
    length into ``run_dir/inspect/``. Returns the paths written."""
    import pandas as pd

    from seqbench.models.checkpoint import DIRNAME, load_checkpoint, rebuild_model
    from seqbench.plugins.registry import Registry
    from seqbench.plugins.factories import build_task
    from seqbench.inspect.figures import gradient_figure, require_matplotlib, save_figure
    from seqbench.inspect.gradients import DEFAULT_BATCH, Subject, init_subject, measure, summarize

    run_dir = Path(run_dir)
    paths = sorted((run_dir / DIRNAME).glob("*.pt"))
    if not paths:
        raise UsageError(f"{run_dir} holds no checkpoints in {DIRNAME}/ (run with --save)")
    if figures:
        require_matplotlib()
    config = _config(run_dir)
    registry = registry or Registry(sorted({p for c in config.get("configs", []) for p in c.get("plugins", [])}))
    groups: dict[tuple, list] = {}
    for path in paths:
        data = load_checkpoint(path)
        task = data["task"]
        groups.setdefault((task["name"], int(task["length"]), json.dumps(task["params"], sort_keys=True)),
                          []).append((path, data))
    out = run_dir / INSPECT_DIR
    out.mkdir(exist_ok=True)
    frames, written = [], []
    for (name, length, params), members in groups.items():
        task = build_task(registry.get("task", name), length, json.loads(params))
        subjects = []
        for path, data in members:
            info, spec = data["model"], data["spec"]
            subjects.append(init_subject(registry, info["cell"], task, info["hidden"], int(spec.get("seed", 0)),
                                         info["layers"], info["cell_params"]))
            subjects.append(Subject(info["cell"], f"{DIRNAME}/{path.name}", rebuild_model(data, registry),
                                    info["hidden"]))
        frame = measure(subjects, task, name, batch or DEFAULT_BATCH)
        frames.append(frame)
        if figures:
            frame.attrs.update(_sizes(config), task=name, length=length)
            written.append(save_figure(gradient_figure(frame), out / figure_name(name, length)))
    frame = pd.concat(frames, ignore_index=True)
    frame.to_csv(out / GRADIENTS_CSV, index=False)
    summarize(frame).to_csv(out / SUMMARY_CSV, index=False)
    return [out / GRADIENTS_CSV, out / SUMMARY_CSV, *written]


def run_figures(run_dir: Union[str, Path]) -> dict[str, "Figure"]:
    """The gradient-flow figures of ``run_dir``, rebuilt from ``inspect/gradients.csv`` (written by
    ``inspect_run``), keyed by their file name (``gradients-adding-100.png``)."""
    import pandas as pd

    from seqbench.inspect.figures import gradient_figure

    run_dir = Path(run_dir)
    csv = run_dir / INSPECT_DIR / GRADIENTS_CSV
    if not csv.is_file():
        raise UsageError(f"{csv} does not exist: run seqbench.inspect.inspect_run({str(run_dir)!r}) first")
    frame, figures = pd.read_csv(csv), {}
    sizes = _sizes(_config(run_dir))
    for (name, length), group in frame.groupby(["task", "length"], sort=False):
        group = group.copy()
        group.attrs.update(sizes, task=name, length=int(length))
        figures[figure_name(name, int(length))] = gradient_figure(group)
    return figures


def _config(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _sizes(config: dict) -> dict:
    """The run's parameter budget (or width) for figure titles, where all its configs share one."""
    budgets = {c.get("params") for c in config.get("configs", [])}
    widths = {c.get("hidden") for c in config.get("configs", [])}
    if len(budgets) == 1 and None not in budgets:
        return {"params": budgets.pop()}
    if len(widths) == 1 and None not in widths and budgets == {None}:
        return {"hidden": widths.pop()}
    return {}
