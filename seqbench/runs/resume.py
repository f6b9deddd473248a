"""What ``--resume`` accepts: the saved run's configuration, unchanged.

A resumed run reruns the trials whose last row is an ``error`` and skips those that ended
``ok`` or ``diverged`` (results, not failures: ``store.FINISHED``). Options that only say how
to run (progress, executor, jobs, plugins, ``--dry-run``) may be given freely; an option of the
trials' configuration (steps, lr, cells, ...) or ``--suite`` only when it equals what was saved,
else the resume is refused with one line naming what differs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional

from seqbench.spec.config import RunConfig
from seqbench.errors import UsageError

# a RunConfig field → the flag of ``seqbench run`` that sets it
FLAGS = {"budget_s": "--budget", "task_params": "--task-opt", "cell_params": "--cell-opt",
         "eval_every": "--eval-every", "eval_examples": "eval_examples", "flush_denormal": "--keep-denormals",
         "sweep_seed": "--sweep-seed", "plugins": "-p"}
NAMES = {"budget_s": "budget", "task_params": "--task-opt", "cell_params": "--cell-opt",
         "flush_denormal": "--keep-denormals"}


def flag(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def check_resume(saved: list[RunConfig], requested: Mapping[str, Any], suite: Optional[str] = None) -> None:
    """Raise a UsageError naming the first option of ``requested`` (RunConfig fields, as given)
    or the first field of ``suite``'s parts that differs from the ``saved`` configurations."""
    if suite is not None:
        from seqbench.spec.suite import load_suite

        _, parts = load_suite(suite, {**requested, "plugins": saved[0].plugins if saved else []})
        if len(parts) != len(saved):
            raise UsageError(f"--resume: --suite {suite} has {len(parts)} part(s), the saved run {len(saved)}; "
                             "drop --suite to continue the run as saved")
        for i, (part, before) in enumerate(zip(parts, saved), 1):
            field = _first_difference(before.to_dict(), part.to_dict())
            if field is not None:
                old, new = before.to_dict()[field], part.to_dict()[field]
                raise UsageError(f"--resume: --suite {suite} part {i}: {NAMES.get(field, field)} differs from the "
                                 f"saved run ({_show(old)} → {_show(new)}); drop --suite to continue the run as saved")
        return
    for field, value in requested.items():
        for before in saved:
            old = before.to_dict()
            if field == "hidden" and old.get("params") is not None:
                raise UsageError(f"--resume: the saved run solved widths for a parameter budget "
                                 f"(params {_show(old['params'])}), not --hidden {_show(value)}; drop --hidden")
            new = RunConfig(**{**old, field: value}).to_dict()
            if new[field] != old[field]:
                raise UsageError(f"--resume: {NAMES.get(field, field)} differs from the saved run "
                                 f"({_show(old[field])} → {_show(new[field])}); drop {flag(field)} to continue "
                                 "the run as saved, or start a new run")


def _first_difference(before: dict, after: dict) -> Optional[str]:
    for field in before:
        if field != "plugins" and before[field] != after.get(field):
            return field
    return None


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ",".join(map(str, value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return f"{value:g}" if isinstance(value, float) else str(value)


def saved_configs(saved: Mapping[str, Any], run_dir: Path) -> list[RunConfig]:
    """The run configurations of a run folder's config.json (``RunDir.read_config``); a
    damaged one is a UsageError naming the file and what is wrong, in one line."""
    where = Path(run_dir) / "config.json"
    if not saved.get("configs"):
        raise UsageError(f"{where} is damaged: it holds no run configuration ('configs')")
    try:
        return [RunConfig.from_dict(c) for c in saved["configs"]]
    except UsageError as exc:
        raise UsageError(f"{where} is damaged: configs: {exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise UsageError(f"{where} is damaged: configs: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
