"""Running trials: the Python API behind ``seqbench run``.

``run(...)`` validates the request, creates (or reopens, with ``resume``) a run directory,
runs every trial in turn and returns all rows as a pandas DataFrame. Each trial is isolated:
a cell or task that raises gives that trial a row whose status reads ``error: …`` and the
next trial starts. Rows are written to disk as each trial finishes; Ctrl-C keeps them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

from seqbench.spec.config import DEFAULT_PARAMS, RunConfig, TrialSpec, parse_names, resolve_device
from seqbench.errors import StorageError, UsageError
from seqbench.execute import Execution
from seqbench.execute.local import run_trial  # re-exported: seqbench.runs.runner.run_trial
from seqbench.plugins.registry import Registry
from seqbench.store import CONFIG_JSON, ENVIRONMENT_JSON, RunDir


@dataclass
class Request:
    """What a run is asked to do, validated: its configurations, and for a resumed run the
    run directory it continues."""

    configs: list[RunConfig]
    description: str = ""
    suite: Union[str, Path, None] = None
    resume: Optional[RunDir] = None


def run(
    cells: Union[str, Iterable[str], None] = None,
    tasks: Union[str, Iterable[str], None] = None,
    lengths: Union[str, Iterable[int], None] = None,
    *,
    suite: Union[str, Path, None] = None,
    out: Union[str, Path] = "results",
    plugins: Iterable[str] = (),
    resume: Union[str, Path, None] = None,
    progress: bool = False,
    registry: Optional[Registry] = None,
    run_id: Optional[str] = None,
    dry_run: bool = False,
    announce: Optional[Callable[[Any], None]] = None,
    execution: Optional[Execution] = None,
    **options: Any,
) -> Any:
    """Run cells × tasks × lengths × seeds and return one row per trial as a DataFrame.

    ``options`` are the fields of ``RunConfig``: ``steps``, ``budget`` (e.g. ``"30s"``),
    ``seeds``, ``hidden`` or ``params`` (a parameter budget such as ``"50k"``: each cell's
    width is solved so every model lands within ±3 % of it) or ``state_size`` (floats of
    recurrent state per sequence, ``"4k"``, matched the same way), ``backbone`` (``"plain"`` or
    ``"block"``, ``seqbench.models.backbone``), ``layers``, ``batch``, ``lr``,
    ``dropout``, ``clip``, ``device``, ``eval_every``, ``eval_examples``, ``task_params``,
    ``cell_params``. With ``suite`` (a built-in name or a TOML path) the suite's parts are
    run and the given arguments override them. With ``resume=RUN_DIR`` the saved
    configuration is used: trials that ended ``ok`` or ``diverged`` are skipped, ``error`` ones
    run again, and an option (or ``suite``) that differs from the saved one is a UsageError
    (``seqbench.runs.resume``).

    Sweeps: ``lr``, ``hidden``, ``params``, ``layers``, ``batch``, ``dropout``, ``clip`` and each
    task or cell option take a list (a grid) or a ``"LOW..HIGH"`` range (``samples`` seeded draws,
    ``sweep_seed``); ``tune=True`` selects each cell's best configuration on validation with the
    search seeds, then trains it again on as many fresh seeds, whose test numbers the tuned tables
    report (``seqbench.sweep.tune``; ``results.csv`` columns ``phase``, ``selected``, ``edge``);
    ``patience`` stops a trial early. Every trial's
    configuration is validated before anything trains.

    ``announce`` is called with the plan (``plan_run``'s frame) once it is known: before training
    when the step-time cache knows every model, else after the first trial
    (``seqbench.runs.estimate.RunEstimate``). ``dry_run=True`` is ``plan_run(...)``, kept for
    callers of the earlier API.

    The DataFrame has the columns of ``results.csv``; ``frame.attrs["run_dir"]`` is the run
    directory. Raises ``UsageError`` on bad input and ``KeyboardInterrupt`` (after saving)
    on Ctrl-C.
    """
    if dry_run:
        return plan_run(cells, tasks, lengths, suite=suite, plugins=plugins, resume=resume, registry=registry,
                        execution=execution, **options)
    from seqbench.execute import start_workers

    execution = (execution or Execution()).check()
    registry = registry or Registry(plugins)
    request = requested(cells, tasks, lengths, suite, resume, plugins, registry, options)
    pool = start_workers(execution)  # they import torch while this process plans
    try:
        resolved = resolve_device(request.configs[0].device)
        flushed = flush_subnormals(request.configs) if resolved == "cpu" else None  # before torch starts threads
        trials, task_info = plan(request.configs, registry)
        rundir = request.resume or RunDir.create(out, run_id)
        rundir.acquire()  # one writer per run folder: a second --resume of it is refused
        try:
            return _run_locked(rundir, request, trials, task_info, registry=registry, device=resolved,
                               flushed=flushed, execution=execution, progress=progress, announce=announce, pool=pool)
        finally:
            rundir.close()
            _restore_interrupt()
    finally:
        if pool is not None:
            pool.close()


def plan_run(
    cells: Union[str, Iterable[str], None] = None,
    tasks: Union[str, Iterable[str], None] = None,
    lengths: Union[str, Iterable[int], None] = None,
    *,
    suite: Union[str, Path, None] = None,
    plugins: Iterable[str] = (),
    resume: Union[str, Path, None] = None,
    registry: Optional[Registry] = None,
    execution: Optional[Execution] = None,
    **options: Any,
) -> Any:
    """The plan of ``run`` with the same arguments, nothing trained and no run directory made:
    one row per trial still to run with its estimated seconds (``est_s``; ``attrs["estimate_s"]``
    the total, from a few timed steps of each distinct model the step-time cache does not know,
    timed with the torch threads each trial will have)."""
    import torch

    from seqbench.runs.estimate import estimate

    execution = (execution or Execution()).check()
    registry = registry or Registry(plugins)
    request = requested(cells, tasks, lengths, suite, resume, plugins, registry, options)
    resolved = resolve_device(request.configs[0].device)
    if resolved == "cpu":
        flush_subnormals(request.configs)
    trials, _ = plan(request.configs, registry)
    finished = request.resume.finished_keys() if request.resume is not None else set()
    before = torch.get_num_threads()
    torch.set_num_threads(int(execution.threads or before))  # timed as each trial will run
    try:
        return estimate([t for t in trials if t.key not in finished], registry, resolved)
    finally:
        torch.set_num_threads(before)


def requested(cells: Any, tasks: Any, lengths: Any, suite: Union[str, Path, None], resume: Union[str, Path, None],
              plugins: Iterable[str], registry: Registry, options: dict[str, Any]) -> Request:
    """The configurations a run is asked for — named cells (groups expanded), tasks and lengths
    over the options, a suite's parts, or a saved run's configurations (``resume``, which must
    agree with every option given) — with every name checked before torch is imported."""
    if "budget" in options:
        options["budget_s"] = options.pop("budget")
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(RunConfig.__dataclass_fields__))
    if unknown:
        raise UsageError(f"unknown run option(s): {', '.join(unknown)}")
    sizes = [name for name in ("hidden", "params", "state_size") if options.get(name) is not None]
    if len(sizes) > 1:
        raise UsageError(f"give either a hidden size or a parameter budget (params) or a state size (state_size), "
                         f"not {' and '.join(sizes)}")
    named = {k: v for k, v in (("cells", None if cells is None else registry.select_cells(parse_names(cells, "cells"))),
                               ("tasks", parse_names(tasks)),
                               ("lengths", _lengths(lengths))) if v}
    if resume is not None:
        request = _resumed(resume, {**named, **options}, suite)
    elif suite is not None:
        from seqbench.spec.suite import load_suite

        description, configs = load_suite(suite, {**named, **options, "plugins": list(plugins)})
        for config in configs:
            config.cells = registry.select_cells(config.cells)  # a suite may name groups too
        request = Request(configs, description, suite)
    else:
        if not sizes:
            options["params"] = DEFAULT_PARAMS  # a fair default: every model the same size
        request = Request([RunConfig(**{"cells": registry.select_cells(None), **named, **options,
                                        "plugins": list(plugins)})])
    try:
        check_names(request.configs, registry)  # before torch is imported: a typo is reported at once
    except UsageError as exc:
        if resume is None:
            raise
        raise UsageError(f"{Path(resume) / CONFIG_JSON}: {exc}") from None  # the saved run names it
    return request


def _resumed(resume: Union[str, Path], given: dict[str, Any], suite: Union[str, Path, None]) -> Request:
    """A saved run's request; a UsageError when an option ``given`` (or ``suite``) differs from it."""
    from seqbench.runs.resume import check_resume, saved_configs

    rundir = RunDir.open(resume)
    saved = rundir.read_config()
    if saved.get("horizon"):
        raise UsageError(f"{resume} is a horizon search; continue it with: seqbench horizon --resume {resume}")
    configs = saved_configs(saved, rundir.path)
    rundir.warn_torn_tail()
    check_resume(configs, given, None if suite is None else str(suite))  # same config only
    return Request(configs, saved.get("description", ""), suite, rundir)


def _run_locked(rundir: RunDir, request: Request, trials: list[TrialSpec], task_info: dict, *, registry: Registry,
                device: str, flushed: Optional[float], execution: Execution, progress: bool,
                announce: Optional[Callable[[Any], None]] = None, pool: Any = None) -> Any:
    configs, resume = request.configs, request.resume
    if resume is None:
        metrics = {name: entry.extra["higher_is_better"] for name, entry in registry.metrics.items()}
        rundir.write_json(CONFIG_JSON, {"description": request.description, "suite": str(request.suite or ""),
                                        "configs": [c.to_dict() for c in configs],
                                        "tasks": task_info, "metrics": metrics, **suite_extras(request.suite)})
    write_environment(rundir, registry, device, flushed, execution)

    if progress:
        from seqbench.train.progress import RichProgress

        registry.pm.register(RichProgress(), name="seqbench.train.progress")
    rundir.reload()  # under the lock: what a process before us finished
    done = rundir.finished_keys()
    todo = [t for t in trials if t.key not in done]
    for spec in trials:  # finished ones too: a resumed run evaluates their --eval-lengths here
        spec.device = device
        if execution.executor == "ray" and execution.gpus_per_trial > 0 and configs[0].device == "auto":
            spec.device = "cuda"  # the driver may have no GPU; Ray gives each task its share of one
    if todo and execution.executor == "local" and device == "cpu":
        import threading

        threading.Thread(target=warn_if_busy, args=(execution,), daemon=True).start()  # its sample overlaps the run
    from seqbench.runs.estimate import RunEstimate

    estimate = RunEstimate(todo, registry, todo[0].device if todo else device, int(execution.threads or 1),
                           announce)
    registry.notify("seqbench_run_start", run_dir=str(rundir.path),
                    config={"configs": [c.to_dict() for c in configs]}, trials=todo)
    if any(t.eval_lengths for t in trials) and resume is not None:  # finished before an interruption
        from seqbench.studies.generalization import GeneralizationLog

        GeneralizationLog(rundir.path, registry).catch_up(trials, rundir.rows)
    tune = any(c.tune for c in configs)
    interrupted = run_specs(todo, rundir, registry, execution, plugins=configs[0].plugins, pool=pool,
                            finished=estimate.finished, phase="search" if tune else None,
                            expected=estimate.seconds if execution.parallel else None)
    if tune and not interrupted:  # select on validation, then train the selection on fresh seeds
        from seqbench.sweep.tune import final_specs, select, warn_edges

        finals = final_specs(rundir.frame(), trials, task_info)
        interrupted = run_specs([t for t in finals if t.key not in rundir.finished_keys()], rundir, registry,
                                execution, plugins=configs[0].plugins, pool=pool, phase="final")
        if not interrupted:
            rundir.replace_rows(select(rundir.frame(), task_info).to_dict("records"))
            warn_edges(rundir.frame(), task_info)
    frame = rundir.frame()
    frame.attrs["run_dir"] = str(rundir.path)
    registry.notify("seqbench_run_end", run_dir=str(rundir.path), results=frame, interrupted=interrupted)
    if progress:
        registry.pm.unregister(name="seqbench.train.progress")
    if interrupted:
        raise KeyboardInterrupt(str(rundir.path))
    return frame


def write_environment(rundir: RunDir, registry: Registry, device: str, flushed: Optional[float],
                      execution: Execution) -> None:
    """environment.json: the machine and packages, the plugins' versions, the subnormal mode and
    how the trials are executed."""
    from seqbench.runs.environment import collect

    environment = collect(device, {name: info.version for name, info in registry.plugins.items()})
    if flushed is not None:
        environment["subnormals_flushed"] = flushed
    environment["execution"] = {"executor": execution.executor, "jobs": execution.jobs,
                                "threads_per_trial": execution.threads, "ray_address": execution.ray_address,
                                "cpus_per_trial": execution.cpus_per_trial,
                                "gpus_per_trial": execution.gpus_per_trial, "retries": execution.retries}
    rundir.write_json(ENVIRONMENT_JSON, environment)


def run_specs(specs: list[TrialSpec], rundir: RunDir, registry: Registry,
              execution: Optional[Execution] = None, plugins: Iterable[str] = (), pool: Any = None,
              finished: Optional[Callable[[TrialSpec, dict], None]] = None, phase: Optional[str] = None,
              expected: Optional[Callable[[TrialSpec], float]] = None) -> bool:
    """Run ``specs`` (devices resolved) with the executor ``execution`` names (in ``pool``'s
    workers, from ``execute.start_workers``, when given), appending each row to ``rundir`` as its
    trial finishes (with ``phase`` in its column ``phase`` when given: a tuned run's ``search`` or
    ``final``), notifying ``seqbench_trial_end`` and calling ``finished(spec, row)``; a parallel
    executor takes the trials ``expected`` (seconds) to run longest first. Returns
    True when Ctrl-C stopped it (finished rows are kept; what was queued or running is cancelled)."""
    from seqbench.execute import make_executor

    execution = (execution or Execution()).check()
    if not specs:
        return False
    lengths = _generalization_log(specs, rundir, registry)
    flush = specs[0].flush_denormal
    executor = make_executor(execution.for_trials(len(specs)), registry, rundir.path, list(plugins), flush, pool)
    rows = executor.run(specs, registry.notify, expected)
    try:
        for spec, row in rows:
            if phase is not None:
                row["phase"] = phase
            rundir.append(row)
            if lengths is not None:
                lengths.evaluate(spec, row)  # --eval-lengths: the saved model at the other lengths
            registry.notify("seqbench_trial_end", trial=spec, row=row)
            if finished is not None:
                finished(spec, row)
    except KeyboardInterrupt:
        exit_on_second_interrupt()
        return True
    except StorageError as exc:
        kept = sum(1 for _ in rundir.rows)
        where = (f"{kept} finished trial{'s' if kept != 1 else ''} kept in {rundir.path}; fix it and continue "
                 f"with: seqbench run --resume {rundir.path}") if rundir.path.is_dir() else "nothing could be kept"
        raise StorageError(f"{exc}; {where}") from None
    finally:
        rows.close()  # stops the workers of whatever still runs
        executor.close()
        if lengths is not None:
            lengths.close()
    return False


def exit_on_second_interrupt() -> None:
    """After a first Ctrl-C the run winds down (workers stopped, rows already on disk); a second
    one exits at once, with the same code 130."""
    import os
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        _previous_handler.append(signal.signal(signal.SIGINT, lambda *_: os._exit(130)))


_previous_handler: list = []


def _restore_interrupt() -> None:
    import signal

    while _previous_handler:
        signal.signal(signal.SIGINT, _previous_handler.pop())


def _generalization_log(specs: list[TrialSpec], rundir: RunDir, registry: Registry) -> Any:
    """The run's generalization.csv writer when a trial asks for ``eval_lengths`` (else None)."""
    if not any(spec.eval_lengths for spec in specs):
        return None
    from seqbench.studies.generalization import GeneralizationLog

    return GeneralizationLog(rundir.path, registry)


def suite_extras(suite: Union[str, Path, None]) -> dict[str, Any]:
    """What a suite adds to config.json besides its parts: its published reference numbers and the
    protocol that scores it (``"mad"``: ``runs.info.RunInfo.kind``)."""
    if suite is None:
        return {}
    from seqbench.spec.suite import suite_protocol, suite_reference

    reference, protocol = suite_reference(suite), suite_protocol(suite)
    return {**({"reference": reference} if reference else {}), **({"protocol": protocol} if protocol else {})}


def warn_if_busy(execution: Execution) -> None:
    """Warn on stderr when other processes already keep cores busy that this run's trials need:
    every timing (and the time estimate) then suffers."""
    from seqbench.errors import warn
    from seqbench.execute.cores import available_cores, busy_cores

    busy = busy_cores()
    if busy is None:
        return
    cores = available_cores()
    needed = execution.jobs * (execution.threads or cores)
    free = cores - busy
    if busy >= 0.5 and free < needed - 0.25:
        warn(f"this machine is busy: other processes keep {busy:.1f} of {cores} cores busy and this run "
             f"needs {min(needed, cores)}; timings and the time estimate will suffer")


def flush_subnormals(configs: list[RunConfig]) -> float:
    """Set the run's subnormal mode on CPU (``RunConfig.flush_denormal``) and return the fraction
    of a parallel elementwise op over subnormal inputs that comes out zero: 1.0 when every torch
    thread flushes them. ``torch.set_flush_denormal`` sets the calling thread only, and torch's
    worker threads take the mode of the thread that starts them; so in a fresh process (the CLI:
    nothing ran in parallel yet) all threads follow, while a process that already ran parallel
    torch code keeps its workers' mode (the fraction recorded in environment.json says so)."""
    import torch

    from seqbench.train.measure import subnormals_flushed

    modes = {c.flush_denormal for c in configs}
    if len(modes) > 1:
        raise UsageError("flush_denormal must be the same in every part of a run")
    torch.set_flush_denormal(modes.pop())
    return subnormals_flushed()


def _lengths(lengths: Union[str, Iterable[int], None]) -> Optional[list]:
    if lengths is None:
        return None
    return lengths.split(",") if isinstance(lengths, str) else list(lengths)


def check_names(configs: list[RunConfig], registry: Registry) -> None:
    """Raise a UsageError for an unknown cell or task, or options given for one not in the run.
    Reads names only (factories stay unimported), so it runs before torch is imported."""
    for config in configs:
        for kind, params, chosen in (("cell", config.cell_params, config.cells),
                                     ("task", config.task_params, config.tasks)):
            for name in params:
                if name not in chosen:
                    raise UsageError(f"options given for {kind} '{name}', which is not in this run")
        for name in config.cells:
            registry.get("cell", name)
        for name in config.tasks:
            registry.get("task", name)


def plan(configs: list[RunConfig], registry: Registry) -> tuple[list[TrialSpec], dict[str, Any]]:
    """Validate every config against the registry and expand it into trial specs.

    Unknown names, bad task or cell parameters, cells that cannot be built with their options and
    unmatchable parameter budgets raise a UsageError naming the configuration here, before any
    run directory exists or any step is trained (``seqbench.runs.validate``). Returns the specs
    (device still unresolved, widths solved) and each task's description by ``"task|length"``.
    """
    from seqbench.runs.validate import validate

    check_names(configs, registry)
    trials: list[TrialSpec] = []
    for config in configs:
        trials += config.trials(config.device)
    task_info = validate(trials, registry)
    from seqbench.studies.generalization import validate as validate_lengths

    validate_lengths(trials, registry)  # --eval-lengths: the task is defined there
    from collections import Counter

    trials = label_apart(trials)
    repeated = sorted(key for key, n in Counter(t.key for t in trials).items() if n > 1)
    if repeated:
        raise UsageError(f"the same trial appears twice in the suite: {', '.join(repeated[:3])}")
    return trials, task_info


# what a label may not name: a trial's identity or what follows from it
_NOT_LABELS = {"cell", "task", "length", "seed", "config", "config_label", "params_budget", "state_budget"}


def label_apart(trials: list[TrialSpec]) -> list[TrialSpec]:
    """Trials of different configurations that share cell × task × length × seed (two suite parts,
    each one configuration, e.g. one at lr 1e-3 and one at 1e-2) get a label naming the options in
    which their configurations differ, so each keeps its own key; identical trials stay repeated."""
    from collections import defaultdict
    from dataclasses import asdict, replace

    from seqbench.spec.space import label

    groups: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(trials):
        if not t.config_label:
            groups[t.key].append(i)
    out = list(trials)
    for indices in groups.values():
        if len({trials[i].config for i in indices}) < 2:
            continue
        specs = [_options(asdict(trials[i])) for i in indices]
        solved = all(s["params_budget"] or s["state_budget"] for s in specs)  # the width follows from a budget
        names = dict.fromkeys(k for spec in specs for k in spec)
        differ = [k for k in names if k not in _NOT_LABELS and not (solved and k == "hidden")
                  and len({repr(spec.get(k)) for spec in specs}) > 1]
        for i, spec in zip(indices, specs):
            out[i] = replace(trials[i], config_label=label(spec, differ) or trials[i].config)
    return out


def _options(spec: dict[str, Any]) -> dict[str, Any]:
    """A trial spec's fields with its task and cell options spread out, as ``space.label`` names them."""
    flat = {k: v for k, v in spec.items() if k not in ("task_params", "cell_params")}
    return {**flat, **spec["task_params"], **spec["cell_params"]}


__all__ = ["run", "plan_run", "run_specs", "run_trial", "plan", "check_names"]
