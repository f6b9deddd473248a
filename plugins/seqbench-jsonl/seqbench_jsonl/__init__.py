"""seqbench-jsonl: a JSON-lines metrics stream per trial, written by the lifecycle hooks.

For every trial it writes ``<run_dir>/trials/<trial-id>.jsonl`` (the trial key with ``|``
replaced by ``_``), one JSON object a line, flushed as written so the file can be followed
while the trial trains:

    {"event": "start", "trial": "lstm|adding|50|0", "time": ..., "params": 17473, "spec": {...}}
    {"event": "log", "trial": ..., "time": ..., "step": 20, "loss": 0.17, "tok_s": 3.1e5}
    {"event": "end", "trial": ..., "time": ..., "status": "ok", "row": {...the results.csv row...}}

When ``tensorboard`` is installed, the same scalars also go to
``<run_dir>/tensorboard/<trial-id>/`` (``tensorboard --logdir <run_dir>/tensorboard``); set
``SEQBENCH_TENSORBOARD=0`` to turn that off. A resumed run rewrites the files of the trials it
runs again and leaves those of finished trials alone.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import seqbench

__version__ = "0.1.0"


def trial_id(key: str) -> str:
    """A file name for a trial key such as ``lstm|adding|50|0``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


def _plain(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, numpy scalars become numbers, other objects strings."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def tensorboard_writer() -> Optional[Callable[[str], Any]]:
    """``SummaryWriter`` when tensorboard is importable and not turned off, else None."""
    if os.environ.get("SEQBENCH_TENSORBOARD", "1") == "0":
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # noqa: BLE001 - tensorboard missing (or broken): JSON lines only
        return None
    return SummaryWriter


class JsonlLogger:
    """Writes one JSON-lines file per trial of the current run (and TensorBoard scalars)."""

    def __init__(self, writer_factory: Optional[Callable[[str], Any]] = None) -> None:
        self.writer_factory = writer_factory
        self.run_dir: Optional[Path] = None
        self.files: dict[str, Any] = {}
        self.writers: dict[str, Any] = {}

    def _write(self, key: str, event: str, **fields: Any) -> None:
        handle = self.files.get(key)
        if handle is None:  # e.g. a trial whose model failed to build: no start event
            handle = self.files[key] = open(self.run_dir / "trials" / f"{trial_id(key)}.jsonl", "a", encoding="utf-8")
        record = {"event": event, "trial": key, "time": time.time(), **_plain(fields)}
        handle.write(json.dumps(record) + "\n")
        handle.flush()

    def seqbench_run_start(self, run_dir: str) -> None:
        self.close()
        self.run_dir = Path(run_dir)
        (self.run_dir / "trials").mkdir(parents=True, exist_ok=True)
        self.writer_factory = self.writer_factory or tensorboard_writer()

    def seqbench_trial_start(self, trial: Any, params: int) -> None:
        if self.run_dir is None:
            return
        self.files[trial.key] = open(self.run_dir / "trials" / f"{trial_id(trial.key)}.jsonl", "w", encoding="utf-8")
        self._write(trial.key, "start", params=params, spec=trial.to_dict())
        if self.writer_factory is not None:
            self.writers[trial.key] = self.writer_factory(str(self.run_dir / "tensorboard" / trial_id(trial.key)))

    def seqbench_trial_log(self, trial: Any, step: int, metrics: Mapping[str, float]) -> None:
        if self.run_dir is None:
            return
        self._write(trial.key, "log", step=step, **metrics)
        writer = self.writers.get(trial.key)
        if writer is not None:
            for name, value in metrics.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    writer.add_scalar(name, value, step)

    def seqbench_trial_end(self, trial: Any, row: Mapping[str, Any]) -> None:
        if self.run_dir is None:
            return
        self._write(trial.key, "end", status=row.get("status"), row=row)
        self.files.pop(trial.key).close()
        writer = self.writers.pop(trial.key, None)
        if writer is not None:
            writer.close()

    def seqbench_run_end(self) -> None:
        self.close()

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()
        for writer in self.writers.values():
            writer.close()
        self.files, self.writers = {}, {}


logger = JsonlLogger()  # the module-level hooks below (what the entry point registers) delegate to it


@seqbench.hookimpl
def seqbench_run_start(run_dir: str) -> None:
    logger.seqbench_run_start(run_dir)


@seqbench.hookimpl
def seqbench_trial_start(trial: Any, params: int) -> None:
    logger.seqbench_trial_start(trial, params)


@seqbench.hookimpl
def seqbench_trial_log(trial: Any, step: int, metrics: Mapping[str, float]) -> None:
    logger.seqbench_trial_log(trial, step, metrics)


@seqbench.hookimpl
def seqbench_trial_end(trial: Any, row: Mapping[str, Any]) -> None:
    logger.seqbench_trial_end(trial, row)


@seqbench.hookimpl
def seqbench_run_end() -> None:
    logger.seqbench_run_end()
