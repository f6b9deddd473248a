"""Running trials: the Python API behind ``seqbench run``.

``run(...)`` validates the request, creates (or reopens, with ``resume``) a run directory,
runs every trial in turn and returns all rows as a pandas DataFrame. Each trial is isolated:
a cell or task that raises gives that trial a row whose status reads ``error: …`` and the
next trial starts. Rows are written to disk as each trial finishes; Ctrl-C keeps them.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

from .config import DEFAULT_PARAMS, RunConfig, TrialSpec, parse_names, resolve_device
from .errors import UsageError
from .factories import build_task  # re-exported: seqbench.runner.build_task
from .registry import Registry
from .results import CONFIG_JSON, ENVIRONMENT_JSON, RunDir


def run_trial(spec: TrialSpec, registry: Registry, checkpoint_dir: Optional[Path] = None) -> dict[str, Any]:
    """Train and evaluate one trial; always returns its row (status ok, diverged or error).
    With ``spec.save`` the trained model is saved in ``checkpoint_dir`` (seqbench.checkpoint)."""
    import torch

    from .measure import PeakMemory, median_after_warmup, median_seconds
    from .model import build_model, count_params
    from .train import EvalSet, evaluate, train

    started = time.perf_counter()
    row: dict[str, Any] = {
        "trial": spec.key, "cell": spec.cell, "task": spec.task, "length": spec.length,
        "seed": spec.seed, "config": spec.config, "config_label": spec.config_label, "hidden": spec.hidden,
        "layers": spec.layers, "batch": spec.batch, "lr": spec.lr, "dropout": spec.dropout, "clip": spec.clip,
        "params_budget": spec.params_budget, "cell_opts": _options_json(spec.cell_params),
        "task_opts": _options_json(spec.task_params), "device": spec.device, "params": None,
    }
    row.update(dict.fromkeys(registry.metrics))  # on the test split
    row.update(dict.fromkeys(f"val_{name}" for name in registry.metrics))  # on the validation split
    row.update({"baseline": None, "optimum": None, "solved": False, "steps_to_solve": None,
                "train_tok_s": None, "infer_tok_s": None, "train_iqr": None, "infer_iqr": None,
                "peak_mem_mb": None, "peak_mem_kind": None, "steps": 0, "best_step": None,
                "stopped_early": False, "train_s": None, "wall_s": None, "status": "ok"})
    model = None
    try:
        device = torch.device(spec.device)
        if device.type == "cpu":
            torch.set_flush_denormal(spec.flush_denormal)  # this thread; see run() for the others
        task = build_task(registry.get("task", spec.task), spec.length, spec.task_params)
        row["baseline"], row["optimum"] = task.baseline, task.optimum
        torch.manual_seed(spec.seed)
        model = build_model(task, registry.get("cell", spec.cell), spec.hidden, spec.layers,
                            spec.dropout, spec.cell_params).to(device)
        row["params"] = count_params(model)
        registry.notify("seqbench_trial_start", trial=spec, params=row["params"])

        eval_set = EvalSet.draw(task, spec.eval_examples, spec.batch, device)
        memory = PeakMemory(device)
        memory.start()
        outcome = train(model, task, spec, device, eval_set,
                        log=lambda step, metrics: registry.notify("seqbench_trial_log", trial=spec,
                                                                  step=step, metrics=metrics))
        row["peak_mem_mb"], row["peak_mem_kind"] = memory.peak_mb(), memory.kind
        row["steps"], row["train_s"] = outcome.steps, outcome.train_s
        row["steps_to_solve"] = outcome.steps_to_solve
        row["best_step"], row["stopped_early"] = outcome.best_step, outcome.stopped_early
        step_s, row["train_iqr"] = median_after_warmup(outcome.step_seconds)
        row["train_tok_s"] = spec.batch * task.seq_len / step_s

        val_stats = evaluate(model, task, eval_set)
        stats = evaluate(model, task, EvalSet.draw(task, spec.eval_examples, spec.batch, device, split="test"))
        for name, metric in registry.metrics.items():
            for prefix, values in (("", stats), ("val_", val_stats)):
                value = metric.obj(values)
                row[prefix + name] = None if value is None else float(value)
        diverged = outcome.status == "diverged" or not all(math.isfinite(v) for v in stats.values())
        row["status"] = "diverged" if diverged else "ok"
        row["solved"] = not diverged and bool(task.solved(stats))
        if row["solved"] and row["steps_to_solve"] is None:
            row["steps_to_solve"] = outcome.steps

        x = eval_set.batches[0][0]

        def infer() -> None:
            with torch.inference_mode():
                model(x)

        model.eval()
        infer_s, row["infer_iqr"] = median_seconds(infer, device)
        row["infer_tok_s"] = x.shape[0] * task.seq_len / infer_s
        if spec.save and checkpoint_dir is not None:
            from .checkpoint import checkpoint_name, save_checkpoint

            save_checkpoint(checkpoint_dir / checkpoint_name(spec.key), model, spec, task, row)
            row["checkpoint"] = f"{checkpoint_dir.name}/{checkpoint_name(spec.key)}"
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - isolate the trial; the run goes on
        message = " ".join(str(exc).split())
        row["status"] = f"error: {type(exc).__name__}: {message}"[:500]
    finally:
        del model
        if spec.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()
    row["wall_s"] = time.perf_counter() - started
    return row


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
    **options: Any,
) -> Any:
    """Run cells × tasks × lengths × seeds and return one row per trial as a DataFrame.

    ``options`` are the fields of ``RunConfig``: ``steps``, ``budget`` (e.g. ``"30s"``),
    ``seeds``, ``hidden`` or ``params`` (a parameter budget such as ``"50k"``: each cell's
    width is solved so every model lands within ±3 % of it), ``layers``, ``batch``, ``lr``,
    ``dropout``, ``clip``, ``device``, ``eval_every``, ``eval_examples``, ``task_params``,
    ``cell_params``. With ``suite`` (a built-in name or a TOML path) the suite's parts are
    run and the given arguments override them. With ``resume=RUN_DIR`` the saved
    configuration is used and finished trials are skipped.

    Sweeps: ``lr``, ``hidden``, ``params``, ``layers``, ``batch``, ``dropout``, ``clip`` and each
    task or cell option take a list (a grid) or a ``"LOW..HIGH"`` range (``samples`` seeded draws,
    ``sweep_seed``); ``tune=True`` selects each cell's best configuration on validation
    (``results.csv`` column ``selected``); ``patience`` stops a trial early. Every trial's
    configuration is validated before anything trains.

    With ``dry_run`` nothing trains and no run directory is made: the plan is returned, one row
    per trial with its estimated seconds (``est_s``; ``attrs["estimate_s"]`` the total, from a few
    timed steps of each distinct model). ``announce`` is called with that plan before training.

    The DataFrame has the columns of ``results.csv``; ``frame.attrs["run_dir"]`` is the run
    directory. Raises ``UsageError`` on bad input and ``KeyboardInterrupt`` (after saving)
    on Ctrl-C.
    """
    registry = registry or Registry(plugins)
    if "budget" in options:
        options["budget_s"] = options.pop("budget")
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(RunConfig.__dataclass_fields__))
    if unknown:
        raise UsageError(f"unknown run option(s): {', '.join(unknown)}")
    if options.get("hidden") is not None and options.get("params") is not None:
        raise UsageError("give either a hidden size or a parameter budget (params), not both")
    named = {k: v for k, v in (("cells", parse_names(cells)), ("tasks", parse_names(tasks)),
                               ("lengths", _lengths(lengths))) if v}
    description = ""
    if resume is not None:
        rundir = RunDir.open(resume)
        saved = rundir.read_json(CONFIG_JSON)
        configs = [RunConfig.from_dict(c) for c in saved["configs"]]
        description = saved.get("description", "")
    elif suite is not None:
        from .suite import load_suite

        description, configs = load_suite(suite, {**named, **options, "plugins": list(plugins)})
    else:
        if "hidden" not in options and "params" not in options:
            options["params"] = DEFAULT_PARAMS  # a fair default: every model the same size
        configs = [RunConfig(**{"cells": registry.default_cells(), **named, **options, "plugins": list(plugins)})]

    resolved = resolve_device(configs[0].device)
    flushed = flush_subnormals(configs) if resolved == "cpu" else None  # before torch starts its threads
    trials, task_info = plan(configs, registry)
    if dry_run or announce is not None:
        from .sweep.estimate import estimate

        finished = RunDir.open(resume).finished_keys() if resume is not None else set()
        planned = estimate([t for t in trials if t.key not in finished], registry, resolved)
        if dry_run:
            return planned
        announce(planned)
    if resume is None:
        rundir = RunDir.create(out, run_id)
        metrics = {name: entry.extra["higher_is_better"] for name, entry in registry.metrics.items()}
        rundir.write_json(CONFIG_JSON, {"description": description, "suite": str(suite or ""),
                                        "configs": [c.to_dict() for c in configs],
                                        "tasks": task_info, "metrics": metrics})
    from .environment import collect

    plugin_versions = {name: info.version for name, info in registry.plugins.items()}
    environment = collect(resolved, plugin_versions)
    if flushed is not None:
        environment["subnormals_flushed"] = flushed
    rundir.write_json(ENVIRONMENT_JSON, environment)

    if progress:
        from .progress import RichProgress

        registry.pm.register(RichProgress(), name="seqbench.progress")
    done = rundir.finished_keys()
    todo = [t for t in trials if t.key not in done]
    for spec in todo:
        spec.device = resolved
    registry.notify("seqbench_run_start", run_dir=str(rundir.path),
                    config={"configs": [c.to_dict() for c in configs]}, trials=todo)
    interrupted = False
    try:
        for spec in todo:
            row = run_trial(spec, registry, rundir.path / "checkpoints")
            rundir.append(row)
            registry.notify("seqbench_trial_end", trial=spec, row=row)
    except KeyboardInterrupt:
        interrupted = True
    if any(c.tune for c in configs) and not interrupted:
        from .sweep.tune import select

        rundir.replace_rows(select(rundir.frame(), task_info).to_dict("records"))
    frame = rundir.frame()
    frame.attrs["run_dir"] = str(rundir.path)
    registry.notify("seqbench_run_end", run_dir=str(rundir.path), results=frame, interrupted=interrupted)
    if progress:
        registry.pm.unregister(name="seqbench.progress")
    if interrupted:
        raise KeyboardInterrupt(str(rundir.path))
    return frame


def _options_json(options: dict) -> str:
    return json.dumps(options, sort_keys=True, default=str) if options else ""


def flush_subnormals(configs: list[RunConfig]) -> float:
    """Set the run's subnormal mode on CPU (``RunConfig.flush_denormal``) and return the fraction
    of a parallel elementwise op over subnormal inputs that comes out zero: 1.0 when every torch
    thread flushes them. ``torch.set_flush_denormal`` sets the calling thread only, and torch's
    worker threads take the mode of the thread that starts them; so in a fresh process (the CLI:
    nothing ran in parallel yet) all threads follow, while a process that already ran parallel
    torch code keeps its workers' mode (the fraction recorded in environment.json says so)."""
    import torch

    from .measure import subnormals_flushed

    modes = {c.flush_denormal for c in configs}
    if len(modes) > 1:
        raise UsageError("flush_denormal must be the same in every part of a run")
    torch.set_flush_denormal(modes.pop())
    return subnormals_flushed()


def _lengths(lengths: Union[str, Iterable[int], None]) -> Optional[list]:
    if lengths is None:
        return None
    return lengths.split(",") if isinstance(lengths, str) else list(lengths)


def plan(configs: list[RunConfig], registry: Registry) -> tuple[list[TrialSpec], dict[str, Any]]:
    """Validate every config against the registry and expand it into trial specs.

    Unknown names, bad task or cell parameters, cells that cannot be built with their options and
    unmatchable parameter budgets raise a UsageError naming the configuration here, before any
    run directory exists or any step is trained (``seqbench.sweep.validate``). Returns the specs
    (device still unresolved, widths solved) and each task's description by ``"task|length"``.
    """
    from .sweep.validate import validate

    trials: list[TrialSpec] = []
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
        trials += config.trials(config.device)
    task_info = validate(trials, registry)
    from collections import Counter

    repeated = sorted(key for key, n in Counter(t.key for t in trials).items() if n > 1)
    if repeated:
        raise UsageError(f"the same trial appears twice in the suite: {', '.join(repeated[:3])}")
    return trials, task_info


__all__ = ["run", "run_trial", "build_task"]
