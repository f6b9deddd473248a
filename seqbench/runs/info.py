"""What a run folder holds, read once: its rows, configuration and environment, and the one
decision of what kind of run it is (``RunInfo.kind``: ``speed``, ``horizon``, ``mad``, ``tuned``
or ``plain``). Studies (``seqbench compare``) read runs through this; reporting gives each kind its
tables and figures (``seqbench.reporting.run_report``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

KINDS = ("speed", "horizon", "mad", "tuned", "plain")
SELECTION_COLUMNS = ["selected", "n_configs"]


@dataclass(frozen=True)
class RunInfo:
    """A run folder's contents; report formats' ``render(results, run)`` get one (a ``RunReport``)."""

    run_dir: str
    config: Mapping[str, Any] = field(default_factory=dict)  # config.json
    environment: Mapping[str, Any] = field(default_factory=dict)  # environment.json
    results: Any = None  # the rows: results.csv (a speed run: speed.csv)
    scaling: Any = None  # a ``seqbench speed`` run's scaling.csv; None for a ``seqbench run``
    view: str = "auto"  # "tuned": selected configurations only; "all": every one; "auto": as the run asked

    @property
    def kind(self) -> str:
        """``speed`` (``seqbench speed``), ``horizon`` (``seqbench horizon``), ``mad`` (a suite scored
        by MAD's protocol, ``--suite mad``: ``studies.mad``), ``tuned`` (each cell's configuration
        selected on validation) or ``plain``."""
        if self.is_speed:
            return "speed"
        if self.config.get("horizon"):
            return "horizon"
        if self.config.get("protocol") == "mad":
            return "mad"
        return "tuned" if self.tuned else "plain"

    @property
    def tuned(self) -> bool:
        """Whether the tables show each cell's configuration selected on validation only (a run
        with ``tune``, unless the view is ``all``)."""
        if self.view != "auto":
            return self.view == "tuned"
        return any(c.get("tune") for c in self.config.get("configs", []))

    @property
    def is_speed(self) -> bool:
        """Whether this is a ``seqbench speed`` run (speed.csv) rather than a ``seqbench run``."""
        return self.scaling is not None

    @property
    def metrics(self) -> Mapping[str, bool]:
        """Every metric column and whether higher is better."""
        return self.config.get("metrics") or {}

    @property
    def tasks(self) -> Mapping[str, Any]:
        """Each task's description (baseline, solved criterion, ...) by ``"task|length"``."""
        return self.config.get("tasks") or {}

    @property
    def cells(self) -> list[str]:
        """The configured cells, in the run's order (a cell keeps its place and colour)."""
        return list(dict.fromkeys(c for part in self.config.get("configs") or [] for c in part.get("cells") or []))

    def rows(self) -> Any:
        """The rows its tables and figures show (a tuned run: the selected configurations)."""
        return self.results if self.is_speed else shown_rows(self.results, self.tasks, self.tuned)


def shown_rows(results: Any, tasks: Mapping[str, Any], tuned: bool) -> Any:
    """``tuned``: the rows of each cell's configuration selected on validation (with ``n_configs``);
    otherwise every row, without the selection columns."""
    if tuned:
        from seqbench.sweep.tune import tuned as selected

        return selected(results, tasks)
    return results.drop(columns=SELECTION_COLUMNS, errors="ignore")


def solved_flags(column: Any) -> Any:
    """A ``solved`` column as booleans, however it was read back (True, "True", 1, "1.0")."""
    return column.astype(str).isin(["True", "true", "1", "1.0"])


def read_config(run_dir: Union[str, Path]) -> dict:
    """A run folder's config.json ({} when it has none)."""
    from seqbench.store import CONFIG_JSON, RunDir

    return RunDir(run_dir).read_config() if Path(run_dir, CONFIG_JSON).is_file() else {}


def load_run_info(run_dir: Union[str, Path], view: str = "auto", cls: type = RunInfo) -> Any:
    """A run directory's rows, configuration and environment (missing files read as empty);
    a ``seqbench speed`` directory's speed.csv and scaling.csv. ``view``: see ``RunInfo.view``;
    ``cls``: RunInfo or a subclass."""
    from seqbench.store import ENVIRONMENT_JSON, RESULTS_CSV, SCALING_CSV, SPEED_CSV, RunDir, load_run, read_frame

    config = read_config(run_dir)
    environment = RunDir(run_dir).read_json(ENVIRONMENT_JSON) if Path(run_dir, ENVIRONMENT_JSON).is_file() else {}
    speed_csv = Path(run_dir, SPEED_CSV)
    if speed_csv.is_file() and not Path(run_dir, RESULTS_CSV).is_file():
        import pandas as pd

        scaling_csv = Path(run_dir, SCALING_CSV)
        scaling = read_frame(scaling_csv) if scaling_csv.is_file() else pd.DataFrame()
        return cls(str(run_dir), config, environment, read_frame(speed_csv), scaling)
    return cls(str(run_dir), config, environment, load_run(run_dir), view=view)
