"""Figures of ``seqbench inspect``: gradient flow (log-norm against distance, one line per cell and
source) and gate heat maps (time × units, one panel per gate).

Functions take data and return a ``matplotlib.figure.Figure`` built without pyplot (no global
state; saving uses the Agg canvas, headless). One Okabe–Ito colour per cell, the same in every
figure. matplotlib is the optional extra ``seqbench[plots]``: without it, ``require_matplotlib``
raises a one-line UsageError saying how to install it.
"""
from __future__ import annotations

import io
from itertools import cycle
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

from seqbench.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from seqbench.inspect.gates import GateRecord

PLOTS_HINT = "figures need matplotlib: pip install 'seqbench[plots]'"
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
CELL_COLOURS = {"lstm": "#0072B2", "rnn": "#D55E00", "gru": "#009E73", "transformer": "#E69F00"}  # -ref twins alike
GATE_LABELS = {"input": "input gate i", "forget": "forget gate f", "candidate": "candidate g", "output": "output gate o",
               "cell": "cell state c", "hidden": "hidden state h", "reset": "reset gate r", "update": "update gate z"}
FORMATS = (".png", ".svg", ".pdf")


def plots_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def require_matplotlib() -> None:
    """UsageError (one line: how to install it) unless matplotlib can be imported."""
    if not plots_available():
        raise UsageError(PLOTS_HINT)


def _figure(width: float, height: float) -> "Figure":
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def cell_colours(cells: Iterable[str]) -> dict[str, str]:
    """One colour per cell: the built-ins (and their -ref twins) fixed, other cells in order."""
    cells = list(dict.fromkeys(cells))
    fixed = {cell: CELL_COLOURS[cell.removesuffix("-ref")] for cell in cells if cell.removesuffix("-ref") in CELL_COLOURS}
    spare = cycle([c for c in OKABE_ITO if c not in CELL_COLOURS.values()])
    return {cell: fixed.get(cell) or next(spare) for cell in cells}


def source_label(source: str) -> str:
    """``init`` → "at init" (``init, seed 3`` → "at init, seed 3"); a checkpoint path → "trained, FILE"."""
    return f"at {source}" if is_init(source) else f"trained, {Path(source).name}"


def is_init(source: str) -> bool:
    """Whether a gradient-flow ``source`` is a model at initialization (not a checkpoint)."""
    return source == "init" or source.startswith("init, seed ")


def gradient_title(frame: "pd.DataFrame") -> str:
    """Names the task, T, the parameter budget (or width) and the seed of a gradient-flow frame."""
    attrs = frame.attrs
    task = attrs.get("task") or ", ".join(frame["task"].unique())
    length = attrs.get("length") or int(frame["length"].max())
    if attrs.get("params"):
        size = f"{attrs['params']:,} params (±3 %)"
    elif attrs.get("hidden"):
        size = f"hidden {attrs['hidden']}"
    else:
        size = "params as trained"
    seed = f" · seed {attrs['seed']}" if "seed" in attrs else ""
    return f"Gradient flow · {task} · T={length} · {size}{seed}"


def gradient_figure(frame: "pd.DataFrame", title: Optional[str] = None) -> "Figure":
    """‖∂L/∂x_t‖ (log scale) against the distance to the loss step, one line per cell and source
    (solid at init, dashed and dotted for checkpoints)."""
    fig = _figure(8, 4.8)
    ax = fig.add_subplot()
    colours = cell_colours(frame["cell"])
    styles: dict[str, Any] = {}
    for (cell, source), group in frame.groupby(["cell", "source"], sort=False):
        style = "-" if is_init(source) else styles.setdefault(cell, cycle(["--", ":", "-."]))
        group = group.sort_values("distance")
        positive = group[group["grad_norm"] > 0]
        ax.plot(positive["distance"], positive["grad_norm"], color=colours[cell], lw=1.8,
                ls=style if isinstance(style, str) else next(style),
                label=f"{cell} ({source_label(source)}) · {int(group['params'].iloc[0]):,} params")
    ax.set_yscale("log")
    ax.set_xlabel("distance d to the step where the loss is read (steps; d = 1: that step)")
    ax.set_ylabel("gradient norm ‖∂L/∂x_t‖ (log scale)")
    ax.set_title(title or gradient_title(frame), fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return fig


def gate_figure(record: "GateRecord", order: Optional[Any] = None) -> "Figure":
    """Heat maps over time × units of every first-layer tensor of ``record`` on its example; units
    sorted by ``order`` (default: most marked-step-selective write gate first, where the task
    marks steps). Marked steps are flagged ▼ above each panel."""
    from seqbench.inspect.gates import unit_selectivity

    names = [name for name in record.gates if "." not in name]
    fig = _figure(10, 1.55 * len(names) + 0.9)
    if order is None:
        selectivity = unit_selectivity(record)
        order = selectivity.argsort(descending=True) if selectivity is not None else None
    marked = [] if record.marked is None else record.marked[record.row].nonzero().flatten().tolist()
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names):
        values = record.gates[name][record.row].double()  # (time, hidden)
        if order is not None:
            values = values[:, order]
        bounded = values.min().item() >= 0 and values.max().item() <= 1
        limit = max(values.abs().max().item(), 1e-12)
        image = ax.imshow(values.T.numpy(), aspect="auto", interpolation="nearest",
                          cmap="cividis" if bounded else "PuOr_r", vmin=0 if bounded else -limit,
                          vmax=1 if bounded else limit)
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.025, label="opening (0–1)" if bounded else "value")
        label = "candidate n" if name == "candidate" and "update" in record.gates else GATE_LABELS.get(name, name)
        ax.set_title(label, loc="left", fontsize=9)
        ax.set_ylabel("unit", fontsize=8)
        if marked:
            ax.plot(marked, [1.0] * len(marked), "v", color="#D55E00", ms=7, clip_on=False,
                    transform=ax.get_xaxis_transform())
    notes = ["▼ marked steps"] * bool(marked) + ["units sorted, most selective first"] * (order is not None)
    axes[-1].set_xlabel("time step t" + (f" ({'; '.join(notes)})" if notes else ""))
    fig.suptitle(f"{record.cell} gates · {record.task} · T={record.length} · {record.params:,} params · "
                 f"held-out example {record.example} · {Path(record.source).name}", fontsize=11)
    return fig


def figure_svg(fig: "Figure") -> str:
    """The figure as SVG text (to embed in HTML)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    return buffer.getvalue()


def save_figure(fig: "Figure", path: Union[str, Path], dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` (.png, .svg or .pdf, from the suffix) with the Agg canvas."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise UsageError(f"cannot write a figure to {path}: use a file ending in {', '.join(FORMATS)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    return path
