"""seqbench inspect: why a cell succeeds or fails — gradient flow over time and the gates at work.

- ``gradient_flow(cells, task, length, params=..., checkpoints=...)``: the long DataFrame (cell,
  source, distance, grad_norm, ...) and ``summarize(frame)``, the decay per cell (gradients.py);
- ``record_gates(checkpoint, example)`` and ``summarize_gates(record)`` (gates.py);
- ``gradient_figure``, ``gate_figure``, ``figure_svg``, ``save_figure`` (figures.py, matplotlib);
- ``inspect_run(run_dir)``: gradient flow of every checkpoint of a run, into RUN_DIR/inspect/
  (rundir.py), and ``run_figures(run_dir)`` to rebuild its figures.

Nothing heavy is imported here: torch and matplotlib load when a function runs.
"""
from __future__ import annotations

from seqbench.inspect.figures import figure_svg, gate_figure, gradient_figure, plots_available, save_figure
from seqbench.inspect.gates import GateRecord, record_gates, summarize_gates
from seqbench.inspect.gradients import gradient_flow, summarize
from seqbench.inspect.rundir import inspect_run, run_figures

__all__ = ["gradient_flow", "summarize", "record_gates", "summarize_gates", "GateRecord", "gradient_figure",
           "gate_figure", "figure_svg", "save_figure", "plots_available", "inspect_run", "run_figures"]
