"""Executors: where trials run. ``local`` (in this process, one after another), ``processes``
(``--jobs N`` worker processes on this machine) and ``ray`` (``--executor ray``: Ray tasks on
this machine or a cluster). All of them run a ``TrialSpec`` through ``local.run_trial`` and
yield ``(spec, row)`` as each trial finishes; the driver alone writes ``results.csv``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

EXECUTORS = ("local", "ray")


@dataclass
class Execution:
    """How trials are run; never part of a trial's configuration (it does not change results).

    ``jobs``: worker processes for the local executor (1: in this process; "auto": as many
    as the cores allow). ``executor``: "local" or "ray". ``ray_address``: None starts Ray on
    this machine, "auto" or "HOST:PORT" joins a cluster. ``cpus_per_trial``/``gpus_per_trial``:
    each Ray task's resources (fractional GPUs pack trials on one GPU). ``retries``: how many
    times a trial whose worker died is run again before its row reads ``error: worker died``."""

    executor: str = "local"
    jobs: Any = 1
    ray_address: Optional[str] = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    retries: int = 1
