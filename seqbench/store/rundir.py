"""A run directory on disk: ``config.json``, ``environment.json`` and ``results.csv``.

``results.csv`` holds one row per trial, appended as each trial finishes (``store.log``:
one line, one write, fsync; O(1) per row), so an interrupted or killed run keeps every
finished row and the file is readable while the run goes. A torn last line is dropped on
read. Loading keeps the last row of each trial (a resumed run re-runs trials that ended in
an error). The driver is the only writer; ``RunLock`` keeps a second process out.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import secrets
from pathlib import Path
from typing import Any, Union

from seqbench.errors import UsageError
from seqbench.store.lock import RunLock
from seqbench.store.log import RowLog, atomic_write_text, complete_text

RESULTS_CSV = "results.csv"
SPEED_CSV = "speed.csv"  # a ``seqbench speed`` run's rows
SCALING_CSV = "scaling.csv"  # and its exponents of time against length
CURVES_CSV = "curves.csv"  # training curves, one line per log event (seqbench.train.curves)
CONFIG_JSON = "config.json"
ENVIRONMENT_JSON = "environment.json"
FINISHED = ("ok", "diverged")  # statuses --resume does not run again
# config.json's fields that readers rely on, and their types (``RunDir.read_config``)
CONFIG_FIELDS: dict[str, tuple] = {"configs": (list,), "tasks": (dict,), "metrics": (dict,),
                                   "description": (str,), "suite": (str,), "horizon": (dict, type(None)),
                                   "reference": (dict, list)}


class RunDir:
    """One run's folder."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self.logs: dict[str, RowLog] = {}
        self.lock = RunLock(self.path)

    @classmethod
    def create(cls, out: Union[str, Path], run_id: Union[str, None] = None) -> "RunDir":
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} exists and is not a directory")
        run_id = run_id or f"{_dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        path = out / run_id
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise UsageError(f"run directory {path} already exists") from None
        except OSError as exc:
            raise UsageError(f"cannot create run directory {path}: {exc.strerror}") from None
        return cls(path)

    @classmethod
    def open(cls, path: Union[str, Path]) -> "RunDir":
        run = cls(path)
        if not (run.path / CONFIG_JSON).is_file():
            raise UsageError(f"{path} is not a seqbench run directory (no {CONFIG_JSON})")
        run.rows = read_rows(run.path / RESULTS_CSV)
        return run

    def reload(self) -> None:
        """Read the rows on disk again (after taking the lock)."""
        self.rows = read_rows(self.path / RESULTS_CSV)

    @property
    def run_id(self) -> str:
        return self.path.name

    def acquire(self) -> None:
        """Become the run folder's one writer (``RunLock``: a second process is refused) and
        remove the temporary files (``.NAME.PID.tmp``) that a writer killed mid-write left: only
        a writer makes them, and none but us is alive."""
        self.lock.acquire()
        for stale in [*self.path.glob(".*.tmp"), *self.path.glob("checkpoints/.*.tmp")]:
            try:
                stale.unlink()
            except OSError:
                pass

    def write_json(self, name: str, data: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")

    def read_json(self, name: str) -> dict[str, Any]:
        """A JSON object from the run folder; UsageError (one line) when it is unreadable,
        not JSON or not an object."""
        path = self.path / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
        if not isinstance(data, dict):
            raise UsageError(f"{path} is damaged: a JSON object was expected, not {type(data).__name__}")
        return data

    def read_config(self) -> dict[str, Any]:
        """config.json, its known fields checked for their types (a damaged file is one line)."""
        saved = self.read_json(CONFIG_JSON)
        for key, kinds in CONFIG_FIELDS.items():
            if key in saved and not isinstance(saved[key], kinds):
                raise UsageError(f"{self.path / CONFIG_JSON} is damaged: '{key}' is a "
                                 f"{type(saved[key]).__name__}, not a {kinds[0].__name__}")
        if any(not isinstance(c, dict) for c in saved.get("configs", [])):
            raise UsageError(f"{self.path / CONFIG_JSON} is damaged: 'configs' holds something else than objects")
        return saved

    def warn_torn_tail(self) -> None:
        """Say so when results.csv ends in a partial line (a write cut short, or the file cut
        by hand): that line is no row, and the next append cuts it off."""
        from seqbench.errors import warn
        from seqbench.store.log import torn_tail

        torn = torn_tail(self.path / RESULTS_CSV)
        if torn:
            warn(f"{self.path / RESULTS_CSV} ends in a partial line ({torn} bytes, a write cut short); "
                 "it is dropped and its trial runs again")

    def append(self, row: dict[str, Any], name: str = RESULTS_CSV) -> None:
        """Add a finished trial's row to the run's CSV (results.csv; speed.csv for
        ``seqbench speed``): one appended line, O(1) however many rows came before."""
        log = self.logs.setdefault(name, RowLog(self.path / name))
        log.append(row, self.rows)
        self.rows.append(row)

    def replace_rows(self, rows: list[dict[str, Any]], name: str = RESULTS_CSV) -> None:
        """Replace every row (e.g. with the ``selected`` column of a tuned run), atomically."""
        self.rows = list(rows)
        self.logs.setdefault(name, RowLog(self.path / name)).rewrite(self.rows)

    def close(self) -> None:
        for log in self.logs.values():
            log.close()
        self.lock.release()

    def finished_keys(self) -> set[str]:
        """Trials already done (ok or diverged); --resume skips these."""
        return {r["trial"] for r in self.rows if str(r.get("status")) in FINISHED}

    def frame(self) -> Any:
        return rows_to_frame(self.rows)


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    frame = read_frame(path)
    return frame.to_dict("records")


def read_frame(path: Path) -> Any:
    import pandas as pd

    try:
        text = complete_text(path)  # a torn last line (killed mid-write) is not a row
        if not text:
            return pd.DataFrame()
        return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=["", "nan", "NaN"])
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def rows_to_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return last_attempts(pd.DataFrame(rows))


def last_attempts(frame: Any) -> Any:
    """One row per trial: the last (a resumed run re-runs trials that ended in an error)."""
    if "trial" in frame:
        frame = frame.drop_duplicates("trial", keep="last").reset_index(drop=True)
    return frame


def load_run(path: Union[str, Path]) -> Any:
    """The results of a run directory (or of a results.csv path) as a DataFrame."""
    path = Path(path)
    csv_path = path / RESULTS_CSV if path.is_dir() else path
    if not csv_path.is_file():
        raise UsageError(f"no results at {path} (expected a run directory holding {RESULTS_CSV})")
    return last_attempts(read_frame(csv_path))
