"""A run folder as reporting sees it: ``RunReport`` takes the kind ``RunInfo`` decided (speed,
horizon, tuned or plain) and gives that kind's tables, summary and figures. Report formats
(``seqbench report --format``) and ``seqbench plot`` read runs through ``load_report``.
"""
from __future__ import annotations

from typing import Any, Union
from pathlib import Path

from seqbench.reporting.table import TableData
from seqbench.runs.info import RunInfo, load_run_info, read_config


class RunReport(RunInfo):
    """A ``RunInfo`` with its tables, summary and figures, chosen by ``kind`` (a MAD run: its
    score, each task's settings and the published numbers, ``reporting.mad_tables``)."""

    def summary(self) -> Any:
        """The aggregated DataFrame behind the tables (see ``run_tables.summarize``); a speed run's
        rows as they are (one per cell × length)."""
        if self.kind == "speed":
            return self.results
        from seqbench.reporting.run_tables import summarize

        return summarize(self.rows(), self.metrics, self.tasks)

    def tables(self) -> list[TableData]:
        """The overview and detail tables (a speed run's: one per length, then scaling; a
        horizon search's: the horizons, then the lengths tried), ready to lay out in any format."""
        if self.kind == "speed":
            from seqbench.reporting.speed_tables import tables as speed_tables

            return speed_tables(self.results, self.scaling)
        if self.kind == "horizon":
            from seqbench.reporting.horizon_tables import tables as horizon_tables

            return horizon_tables(self.results, self.config)
        if self.kind == "mad":
            from seqbench.reporting.mad_tables import tables as mad_tables
            from seqbench.studies.mad import mad_study

            return mad_tables(mad_study(self.results, self.tasks)) + extra_tables(self)
        from seqbench.reporting.run_tables import tables

        return tables(self.results, self.metrics, self.tasks, self.kind == "tuned") + extra_tables(self)

    def figures(self, kind: str = "all") -> dict[str, Any]:
        """Every figure of ``kind`` that applies to the run (``plots.run_figures``), by file stem."""
        from seqbench.reporting.plots import run_figures

        return run_figures(self, kind)


def extra_tables(run: RunInfo) -> list[TableData]:
    """The tables after a run's own: length generalization (a run with ``--eval-lengths``) and
    the published numbers beside the measured ones (a suite with a ``[reference]``)."""
    from seqbench.reporting import generalization_tables, published_tables
    from seqbench.studies.generalization import load

    out: list[TableData] = []
    frame = load(run.run_dir)
    if not frame.empty:
        if run.cells and "cell" in frame:  # the run's cell order, not the order trials finished
            rank = {cell: i for i, cell in enumerate(run.cells)}
            frame = frame.sort_values("cell", key=lambda cells: cells.map(rank).fillna(len(rank)), kind="stable")
        out += generalization_tables.tables(frame, run.tasks)
    if run.config.get("reference"):
        out += published_tables.tables(run.results, run.config["reference"])
    return out


def run_extra_tables(run_dir: Union[str, Path], results: Any) -> list[TableData]:
    """``extra_tables`` of a run directory (``seqbench run`` prints them after its tables)."""
    return extra_tables(RunInfo(str(run_dir), read_config(run_dir), results=results))


def load_report(run_dir: Union[str, Path], view: str = "auto") -> RunReport:
    """``runs.info.load_run_info`` as a ``RunReport``."""
    return load_run_info(run_dir, view, cls=RunReport)
