"""Length generalization: each trained model evaluated, without further training, on the test
set of its task at other lengths (``seqbench run --eval-lengths 2x,4x`` or absolute lengths).

Only tasks that declare ``any_length = True`` (their data are defined at every length, with the
same vocabulary and outputs) can be evaluated at another length; the others are refused before
anything trains, in one line. The models are the run's checkpoints (``--eval-lengths`` implies
``--save``); the rows — one per trial × evaluated length, the trained length included — go to
the run directory's ``generalization.csv`` as each trial finishes (append-only, like
``results.csv``), and ``--resume`` evaluates the finished trials that have none yet. A
Transformer evaluated past its training length uses positions it never saw: that is what is
being measured.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from seqbench.errors import UsageError
from seqbench.plugins.factories import build_task
from seqbench.plugins.registry import Registry
from seqbench.runs.info import solved_flags
from seqbench.store import RowLog, read_rows
from seqbench.tasks.base import primary_metric

GENERALIZATION_CSV = "generalization.csv"


def validate(trials: Iterable[Any], registry: Registry) -> None:
    """A UsageError, before anything trains, when a trial asks for other lengths of a task that
    does not declare ``any_length`` or that cannot be built at one of them (or would change its
    inputs or outputs there)."""
    seen: set[str] = set()
    for spec in trials:
        if not spec.eval_lengths:
            continue
        key = repr((spec.task, sorted(spec.task_params.items()), spec.length, spec.eval_lengths))
        if key in seen:
            continue
        seen.add(key)
        entry = registry.get("task", spec.task)
        trained = build_task(entry, spec.length, spec.task_params)
        if not getattr(trained, "any_length", False):
            raise UsageError(f"task '{spec.task}' cannot be evaluated at other lengths: its data are defined at the "
                             f"trained length only (a task declares any_length = True when they are not)")
        for length in spec.eval_lengths:
            other = build_task(entry, length, spec.task_params)
            shape = lambda t: (t.input_kind, t.input_size, t.output_size)  # noqa: E731
            if shape(other) != shape(trained):
                raise UsageError(f"task '{spec.task}' at length {length} has other inputs or outputs than at "
                                 f"{spec.length} {shape(other)} ≠ {shape(trained)}: a model cannot be evaluated there")


class GeneralizationLog:
    """A run directory's ``generalization.csv``: evaluates a finished trial's checkpoint at its
    ``eval_lengths`` and appends one row per length."""

    def __init__(self, run_dir: Union[str, Path], registry: Registry) -> None:
        self.path = Path(run_dir) / GENERALIZATION_CSV
        self.registry = registry
        self.rows: list[dict] = read_rows(self.path)
        self.log = RowLog(self.path)
        self.lengths: dict[str, set[int]] = {}  # trial → the lengths it has rows for
        for r in self.rows:
            self.lengths.setdefault(str(r["trial"]), set()).add(int(r["eval_length"]))

    def evaluate(self, spec: Any, row: Mapping[str, Any]) -> None:
        """Rows for ``spec`` (a trial that finished ``ok`` with a checkpoint), appended as written;
        only the lengths it has no row for yet (a run killed between two of them goes on)."""
        if not spec.eval_lengths or str(row.get("status")) != "ok":
            return
        have = self.lengths.get(spec.key, set())
        missing = [length for length in [spec.length, *spec.eval_lengths] if length not in have]
        if not missing:
            return
        for out in evaluate_trial(spec, Path(self.path.parent), self.registry, row, missing):
            self.log.append(out, self.rows)
            self.rows.append(out)
            self.lengths.setdefault(spec.key, set()).add(int(out["eval_length"]))

    def catch_up(self, specs: Iterable[Any], results: Iterable[Mapping[str, Any]]) -> None:
        """Evaluate every finished trial of ``specs`` that has no row yet (a resumed run)."""
        by_key = {str(r["trial"]): r for r in results}
        for spec in specs:
            if spec.eval_lengths and spec.key in by_key:
                self.evaluate(spec, by_key[spec.key])

    def close(self) -> None:
        self.log.close()


def evaluate_trial(spec: Any, run_dir: Path, registry: Registry, row: Mapping[str, Any],
                   lengths: Optional[Iterable[int]] = None) -> list[dict]:
    """One row per length (default: the trained one first, then ``spec.eval_lengths``): the
    trained model's metrics on the task's test set at that length, its baseline and whether it
    is solved there."""
    import torch

    from seqbench.models.checkpoint import checkpoint_name, load_checkpoint, rebuild_model
    from seqbench.train.loop import EvalSet, evaluate

    base = {"trial": spec.key, "cell": spec.cell, "task": spec.task, "length": spec.length, "seed": spec.seed,
            "config": spec.config, "config_label": spec.config_label, "params": row.get("params")}
    lengths = list(lengths) if lengths is not None else [spec.length, *spec.eval_lengths]
    out = []
    try:
        where = spec.device if torch.cuda.is_available() or not spec.device.startswith("cuda") else "cpu"
        device = torch.device(where)  # a Ray worker's GPU trial, evaluated on a driver without one: the CPU
        model = rebuild_model(load_checkpoint(run_dir / "checkpoints" / checkpoint_name(spec.key)), registry, device)
    except Exception as exc:  # noqa: BLE001 - a missing or broken checkpoint: the rows say why
        return [{**base, "eval_length": length, "ratio": length / spec.length, "status": _error(exc)}
                for length in lengths]
    for length in lengths:
        record: dict[str, Any] = {**base, "eval_length": length, "ratio": length / spec.length}
        record.update(dict.fromkeys(registry.metrics))
        record.update({"baseline": None, "optimum": None, "solved": False, "status": "ok"})
        try:
            task = build_task(registry.get("task", spec.task), length, spec.task_params)
            record["baseline"], record["optimum"] = task.baseline, task.optimum
            stats = evaluate(model, task, EvalSet.draw(task, spec.eval_examples, spec.batch, device, split="test"))
            for name, metric in registry.metrics.items():
                value = metric.obj(stats)
                record[name] = None if value is None else float(value)
            finite = all(math.isfinite(v) for v in stats.values())
            record["solved"] = finite and bool(task.solved(stats))
        except Exception as exc:  # noqa: BLE001 - one length failing (e.g. out of memory) keeps the others
            record["status"] = _error(exc)
        out.append(record)
    return out


def _error(exc: BaseException) -> str:
    return f"error: {type(exc).__name__}: {' '.join(str(exc).split())}"[:500]


def load(run_dir: Union[str, Path]) -> Any:
    """A run's generalization rows as a DataFrame (empty when it has none)."""
    import pandas as pd

    rows = read_rows(Path(run_dir) / GENERALIZATION_CSV)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.drop_duplicates(["trial", "eval_length"], keep="last").reset_index(drop=True)
    return frame


def summarize(frame: Any, task_info: Optional[Mapping[str, Any]] = None) -> Any:
    """Per task × trained length × cell × evaluated length: the task's primary metric (mean and
    std over seeds that evaluated ok), the solved fraction over every seed, and the baseline."""
    import pandas as pd

    records = []
    if frame.empty:
        return pd.DataFrame(records)
    for (task, length, cell, config, eval_length), group in frame.groupby(
            ["task", "length", "cell", _text(frame["config"]), "eval_length"], sort=False):
        metric, higher = primary_metric(task_info or {}, task, length)
        ok = group[group["status"].astype(str) == "ok"]
        values = pd.to_numeric(ok.get(metric, pd.Series(dtype=float)), errors="coerce").dropna()
        solved = solved_flags(group["solved"])
        records.append({"task": task, "length": int(length), "cell": cell, "config": config,
                        "config_label": _text(group["config_label"]).iloc[0],
                        "eval_length": int(eval_length), "ratio": float(eval_length) / float(length),
                        "metric": metric, "higher_is_better": higher, "seeds": len(group),
                        "value": values.mean() if len(values) else math.nan,
                        "std": values.std(ddof=1) if len(values) > 1 else math.nan,
                        "solved": float(solved.mean()) if len(group) else math.nan,
                        "baseline": pd.to_numeric(group["baseline"], errors="coerce").max(),
                        "status": "ok" if len(ok) == len(group) else f"{len(group) - len(ok)}× error"})
    return pd.DataFrame(records)


def _text(column: Any) -> Any:
    """A column of labels as strings, empty (read back from CSV as NaN) as ""."""
    return column.astype(object).where(column.notna(), "").astype(str)
