"""Terminal tables of ``seqbench inspect``: the gradient-flow summary and the gate summary (rich)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seqbench.reporting.formats import text

if TYPE_CHECKING:
    import pandas as pd

    from seqbench.inspect.gates import GateRecord


def gradient_table(summary: "pd.DataFrame", title: str) -> Any:
    """The per-cell summary of ``gradients.summarize`` as a rich Table."""
    from rich.table import Table

    from seqbench.inspect.figures import source_label

    table = Table(title=title, caption="‖g‖: norm of ∂L/∂x_t over batch and features, L the loss at the final "
                  "scored step, float64; d = distance to that step (1 = the step itself, T = the first step); "
                  "decay: least-squares slope of log10 ‖g‖ against d", caption_justify="left")
    for header in ("cell", "source", "hidden", "params", "‖g‖ at d=1", "‖g‖ at d=T", "ratio T/1",
                   "decay (log10/step)", "× per step"):
        table.add_column(header, justify="left" if header in ("cell", "source") else "right")
    for row in summary.itertuples():
        table.add_row(row.cell, source_label(row.source), str(row.hidden), f"{row.params:,}",
                      text(row.grad_1, ".3g"), text(row.grad_T, ".3g"), text(row.ratio_T_1, ".3g"), text(row.slope_log10, ".4f"),
                      text(row.factor_per_step, ".4f"))
    return table


def gate_table(record: "GateRecord", summary: "pd.DataFrame") -> Any:
    """The per-gate summary of ``gates.summarize_gates`` as a rich Table."""
    from rich.table import Table

    from pathlib import Path

    batch = record.x.shape[0]
    table = Table(title=f"{record.cell} gates · {record.task} · T={record.length} · {Path(record.source).name}",
                  caption=f"means over steps and units: of held-out example {record.example} and of its batch "
                  f"({batch} examples); marked / unmarked: at the task's marked steps and elsewhere (batch)",
                  caption_justify="left")
    for header in ("gate", f"example {record.example}", "batch", "marked", "unmarked", "marked − unmarked"):
        table.add_column(header, justify="left" if header == "gate" else "right")
    for row in summary.itertuples():
        table.add_row(row.gate, text(row.example_mean, ".3f"), text(row.mean, ".3f"), text(row.marked, ".3f"),
                      text(row.unmarked, ".3f"), text(row.marked_minus_unmarked, "+.3f"))
    return table
