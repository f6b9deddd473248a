"""Every hook a seqbench plugin can implement.

A plugin is any module (or object) with functions decorated by ``seqbench.hookimpl`` whose
names match the specs below. An implementation may accept fewer arguments than its spec
(pluggy passes only those it names), so specs can grow without breaking plugins.

Registration hooks receive a ``register`` callback from the host rather than returning
values, so the host knows which plugin provided what and can report duplicates by name.
Lifecycle hooks are called for every trial; an implementation that raises is reported once
and disabled for the rest of the run, and the trials go on.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import pluggy

hookspec = pluggy.HookspecMarker("seqbench")
hookimpl = pluggy.HookimplMarker("seqbench")


# --------------------------------------------------------------------------- registration


@hookspec
def seqbench_register_cells(register: Callable[..., None]) -> None:
    """Contribute sequence cells.

    Call ``register(name, factory, description="")`` once per cell. ``factory(input_size,
    hidden_size, num_layers, dropout, **params)`` must return a ``torch.nn.Module`` whose
    ``forward(x, state=None)`` maps ``x`` of shape (batch, time, input_size) to
    ``(y, state)`` with ``y`` of shape (batch, time, hidden_size); passing the returned
    ``state`` back in continues the sequence step by step. See ``seqbench.cells.base``.
    ``factory`` may be an import path ``"module:attribute"``: it is imported only when the cell
    is built (``registry.LazyFactory``), so loading the plugin need not import torch.

    Optional keywords: ``default=True`` puts the cell in the default set (what a run compares
    when no cell is named; the built-in four set it, a plugin's cells are not default unless they
    do); ``group="NAME"`` adds it to a group that ``--cells NAME`` selects (beside the built-in
    ``classic``, ``all`` and ``default``); ``fused_twin`` and ``flops_per_token`` as in
    docs/plugins.md.
    """


@hookspec
def seqbench_register_tasks(register: Callable[..., None]) -> None:
    """Contribute tasks (data generators with a loss, metrics, a baseline and a notion of solved).

    Call ``register(name, factory, description="")`` once per task. ``factory(length,
    **params)`` must return a ``seqbench.tasks.base.Task``; an import path ``"module:attribute"``
    is imported only when the task is built.
    """


@hookspec
def seqbench_register_metrics(register: Callable[..., None]) -> None:
    """Contribute metrics computed from a task's aggregated evaluation statistics.

    Call ``register(name, fn, higher_is_better, description="")``. ``fn(stats)`` receives the
    mapping a task's evaluation returns (``loss`` and, where they apply, ``accuracy`` and
    ``ce_nats``, the mean cross-entropy in nats per predicted token) and returns a float, or
    ``None`` where the metric does not apply to that task. Each metric becomes a column of
    ``results.csv``.
    """


@hookspec
def seqbench_register_report_formats(register: Callable[..., None]) -> None:
    """Contribute formats for ``seqbench report RUN --format NAME``.

    Call ``register(name, render, suffix=".txt", description="")``. ``render(results, run)``
    receives the run's rows (the pandas DataFrame of ``results.csv``) and a
    ``seqbench.reporting.run_report.RunReport`` (``run_dir``, ``config``, ``environment``, ``metrics``,
    ``tasks``, and ``summary()`` / ``tables()``, the aggregated data behind the built-in
    tables) and returns the report as a string. ``suffix`` lets ``-o FILE`` pick the format
    from the file name. The built-in ``table``, ``markdown``, ``csv``, ``json`` and ``html`` formats
    register through this hook.
    """


@hookspec
def seqbench_register_commands(register: Callable[..., None]) -> None:
    """Contribute subcommands of ``seqbench`` (``seqbench NAME ...``).

    Call ``register(name, add_arguments, run, help="", description="")`` once per command.
    ``add_arguments(parser)`` declares the command's options on its ``argparse`` subparser,
    which already has ``-p`` (shared option groups: ``seqbench.commands.options``).
    ``run(args, registry)`` does the work and returns the exit code; ``args`` is the parsed
    namespace and ``registry`` the loaded ``seqbench.plugins.registry.Registry``. Raise
    ``seqbench.errors.UsageError`` for bad input: it is printed as one line and exits 2.
    ``help`` is the line in ``seqbench --help``, ``description`` heads ``seqbench NAME --help``.
    Import torch and pandas inside ``run``, not at module level, so ``seqbench --help`` stays
    instant. The built-in commands (``seqbench.commands.*``) register through this hook.
    """


# --------------------------------------------------------------------------- inspection


@hookspec(firstresult=True)
def seqbench_inspect_cell(cell: Any, x: Any, state: Any) -> Optional[Mapping[str, Any]]:
    """Expose a cell's internals for ``seqbench inspect gates``.

    ``cell`` is a built cell module, ``x`` its input (batch, time, input_size) and ``state``
    its initial state (usually None). Return a dict of name → tensor of shape (batch, time,
    hidden) — e.g. ``{"forget": f, "input": i}``, one value per step and unit — for a cell
    this plugin knows, else None (the next plugin is asked). Names that also occur in the
    built-in cells (``input``, ``forget``, ``update``, ...) mean the same thing. The built-in
    reference cells ``lstm-ref`` and ``gru-ref`` answer through this hook.
    """


# --------------------------------------------------------------------------- lifecycle


@hookspec
def seqbench_run_start(run_dir: str, config: Mapping[str, Any], trials: list) -> None:
    """A run begins: ``trials`` are the ``TrialSpec`` objects still to run (after --resume)."""


@hookspec
def seqbench_trial_start(trial: Any, params: int) -> None:
    """A trial's model is built and training is about to start; ``params`` is its size."""


@hookspec
def seqbench_trial_log(trial: Any, step: int, metrics: Mapping[str, float]) -> None:
    """Periodic training log: ``metrics`` holds ``loss`` and ``tok_s`` (recent train tokens/s)
    every log interval, plus ``eval_loss`` (and other eval statistics) after each evaluation."""


@hookspec
def seqbench_trial_end(trial: Any, row: Mapping[str, Any]) -> None:
    """A trial finished (ok, diverged or error); ``row`` is exactly what was written to
    ``results.csv``."""


@hookspec
def seqbench_run_end(run_dir: str, results: Any, interrupted: bool) -> None:
    """The run ended; ``results`` is the pandas DataFrame of every row of the run."""
