"""Executors: where trials run. ``local`` (in this process, one after another), ``processes``
(``--jobs N`` worker processes on this machine) and ``ray`` (``--executor ray``: Ray tasks on
this machine or a cluster). All of them run a ``TrialSpec`` through ``local.run_trial`` and
yield ``(spec, row)`` as each trial finishes; the driver alone writes ``results.csv``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

EXECUTORS = ("local", "ray")


@dataclass
class Execution:
    """How trials are run; never part of a trial's configuration. It changes results only in their
    last bits (torch's kernels sum in another order with another number of threads).

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
    threads: Optional[int] = None  # torch threads per trial (default: cores // jobs)
    threads_given: Optional[bool] = None  # set by check(): whether threads came from the caller

    def check(self) -> "Execution":
        """Validate and normalise (``jobs="auto"`` → a number); UsageError on bad values."""
        from seqbench.errors import UsageError, unknown_name
        from seqbench.execute.cores import parse_jobs, threads_per_job

        if self.executor not in EXECUTORS:
            raise unknown_name("executor", self.executor, list(EXECUTORS))
        self.jobs = parse_jobs(self.jobs)
        if self.threads_given is None:
            self.threads_given = self.threads is not None
        if self.executor == "ray":
            self.cpus_per_trial = _number("--cpus-per-trial", self.cpus_per_trial, minimum=0.0)
            self.gpus_per_trial = _number("--gpus-per-trial", self.gpus_per_trial, minimum=0.0)
            if self.threads is None:
                self.threads = max(1, int(self.cpus_per_trial))
        self.threads = threads_per_job(self.jobs, self.threads)
        try:
            self.retries = int(self.retries)
        except (TypeError, ValueError):
            self.retries = -1
        if self.retries < 0:
            raise UsageError(f"--retries must be an integer >= 0, got {self.retries!r}")
        return self

    @property
    def parallel(self) -> bool:
        return self.executor == "ray" or self.jobs > 1

    def for_trials(self, count: int) -> "Execution":
        """This execution for ``count`` trials: with fewer trials than ``jobs``, the cores of the
        workers that would sit idle go to the others' torch threads (unless the caller gave
        ``threads``), so that ``--jobs 2`` on one trial is not slower than a serial run."""
        from dataclasses import replace

        from seqbench.execute.cores import threads_per_job

        if self.executor != "local" or self.threads_given or not 0 < count < self.jobs:
            return self
        return replace(self, threads=threads_per_job(count))


def _number(flag: str, value: Any, minimum: float) -> float:
    from seqbench.errors import UsageError

    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a number, got {value!r}") from None
    if not number >= minimum:
        raise UsageError(f"{flag} must be >= {minimum:g}, got {value!r}")
    return number


def start_workers(execution: Execution) -> Any:
    """For ``--jobs N`` (N > 1): a ``processes.WorkerPool`` of N workers started now, so that they
    import torch while the driver plans; hand it to ``make_executor``. None otherwise."""
    if execution.executor != "local" or execution.jobs <= 1:
        return None
    from seqbench.execute.processes import WorkerPool

    return WorkerPool(execution.jobs)


def make_executor(execution: Execution, registry: Any, run_dir: Path, plugins: list[str],
                  flush_denormal: bool, pool: Any = None) -> Any:
    """The executor ``execution`` names: ``run(specs, notify)`` yields ``(spec, row)`` as each
    trial finishes; ``close()`` releases its workers (and ``pool``'s, from ``start_workers``)."""
    import os
    import sys

    from seqbench.execute.local import SerialExecutor

    if not execution.parallel:
        return SerialExecutor(registry, run_dir / "checkpoints", execution.threads)
    from seqbench.data import corpus
    from seqbench.execute.worker import WorkerSetup

    setup = WorkerSetup(plugins=list(plugins), plugin_env=os.environ.get("SEQBENCH_PLUGINS", ""),
                        threads=int(execution.threads or 1), flush_denormal=flush_denormal,
                        checkpoint_dir=None if execution.executor == "ray" else str(run_dir / "checkpoints"),
                        corpora=corpus.resolved_corpora(),
                        environ=None if execution.executor == "ray" else dict(os.environ),
                        sys_path=None if execution.executor == "ray" else list(sys.path))
    if execution.executor == "ray":
        from seqbench.execute.ray import RayExecutor

        return RayExecutor(setup, registry, run_dir, execution.ray_address, execution.cpus_per_trial,
                           execution.gpus_per_trial, execution.retries)
    from seqbench.execute.processes import ProcessExecutor

    return ProcessExecutor(execution.jobs, setup, registry, execution.retries, pool)

