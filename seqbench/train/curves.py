"""``curves.csv``: every run's training curves, written as training goes by a built-in plugin
that uses only the lifecycle hooks, as ``seqbench.train.progress`` does.

One line per log event, appended with ``O_APPEND`` in a single ``write`` and flushed at once:
O(1) per line, readable while the run goes on, and safe for resumed and parallel runs (the
header is written only by whoever creates the file). A training log line carries ``loss``
and ``tok_s``; an evaluation line carries the validation statistics (``val_loss``,
``val_accuracy``, ``val_ce_nats``; others, a plugin task's, as JSON in ``val_extra``).
``tokens`` and ``train_s`` come from the log's ``metrics`` where the trainer puts them
there; otherwise they are estimated (steps × batch × T, and wall time since the trial
started, evaluation included).
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, Optional

from seqbench.hookspecs import hookimpl
from seqbench.errors import StorageError
from seqbench.store import CURVES_CSV
from seqbench.store.log import cut_torn_tail, write_whole

COLUMNS = ("trial", "cell", "task", "length", "seed", "step", "tokens", "train_s", "loss", "tok_s",
           "val_loss", "val_accuracy", "val_ce_nats", "val_extra")
_VAL = ("loss", "accuracy", "ce_nats")


class CurveWriter:
    """Appends curve lines to one run's curves.csv."""

    def __init__(self, run_dir: str) -> None:
        self.path = Path(run_dir) / CURVES_CSV
        self.started: dict[str, float] = {}
        self.fd: Optional[int] = None
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            size = cut_torn_tail(self.fd, self.path)  # a writer killed mid-line before us
        except (OSError, StorageError) as exc:
            self._give_up(exc)
            return
        if size == 0:
            self.write(dict(zip(COLUMNS, COLUMNS)))

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one line; when the disk is full (or the file gone read-only) the partial line
        is cut off again and curves stop, with one warning: the run and its results go on."""
        if self.fd is None:
            return
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(["" if row.get(c) is None else row.get(c) for c in COLUMNS])
        data = buffer.getvalue().encode("utf-8")
        size = os.fstat(self.fd).st_size
        try:
            write_whole(self.fd, data)  # one write: lines from several writers never interleave
        except OSError as exc:
            try:
                os.ftruncate(self.fd, size)
            except OSError:
                pass
            self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        from seqbench.errors import warn

        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        warn(f"cannot write {self.path}: {reason}; learning curves stop here (results.csv goes on)")
        self.close()

    def log(self, trial: Any, step: int, metrics: Mapping[str, float]) -> None:
        tokens = metrics.get("tokens")
        if tokens is None:
            tokens = step * int(getattr(trial, "batch", 0) or 0) * int(getattr(trial, "length", 0) or 0)
        train_s = metrics.get("train_s")
        if train_s is None:
            train_s = time.perf_counter() - self.started.get(trial.key, time.perf_counter())
        row: dict[str, Any] = {"trial": trial.key, "cell": trial.cell, "task": trial.task, "length": trial.length,
                               "seed": trial.seed, "step": step, "tokens": int(tokens), "train_s": repr(float(train_s)),
                               "loss": _num(metrics.get("loss")), "tok_s": _num(metrics.get("tok_s"))}
        evals = {k[len("eval_"):]: v for k, v in metrics.items() if k.startswith("eval_")}
        for name in _VAL:
            row[f"val_{name}"] = _num(evals.pop(name, None))
        row["val_extra"] = json.dumps(evals, sort_keys=True) if evals else None
        self.write(row)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _num(value: Any) -> Optional[str]:
    return None if value is None else repr(float(value))


_writer: Optional[CurveWriter] = None


@hookimpl
def seqbench_run_start(run_dir: str) -> None:
    global _writer
    if _writer is not None:
        _writer.close()
    _writer = CurveWriter(run_dir)


@hookimpl
def seqbench_trial_start(trial: Any) -> None:
    if _writer is not None:
        _writer.started[trial.key] = time.perf_counter()


@hookimpl
def seqbench_trial_log(trial: Any, step: int, metrics: Mapping[str, float]) -> None:
    if _writer is not None:
        _writer.log(trial, step, metrics)


@hookimpl
def seqbench_run_end() -> None:
    global _writer
    if _writer is not None:
        _writer.close()
        _writer = None


def load_curves(run_dir: Any) -> Any:
    """A run's curves.csv as a DataFrame (empty when there is none); where a trial was run
    again (``--resume`` after an error), only its last attempt."""
    import pandas as pd

    from seqbench.store import read_frame

    path = Path(run_dir) / CURVES_CSV
    if not path.is_file():
        return pd.DataFrame(columns=list(COLUMNS))
    frame = read_frame(path)
    keep = []
    for _, group in frame.groupby("trial", sort=False):
        step = group["step"].diff()  # an attempt logs a step's training line before its evaluation line
        restarts = ((step < 0) | ((step == 0) & group["loss"].notna())).to_numpy().nonzero()[0]
        keep.append(group.iloc[restarts[-1]:] if len(restarts) else group)
    return pd.concat(keep).reset_index(drop=True) if keep else frame
