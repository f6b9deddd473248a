"""A run directory on disk: ``config.json``, ``environment.json`` and ``results.csv``.

``results.csv`` holds one row per trial, rewritten atomically (temporary file, fsync,
rename) as each trial finishes, so an interrupted run keeps every finished row and never
leaves a half-written file. Loading keeps the last row of each trial (a resumed run may
re-run a trial that ended in an error).
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import secrets
from pathlib import Path
from typing import Any, Iterable, Union

from .errors import UsageError

RESULTS_CSV = "results.csv"
SPEED_CSV = "speed.csv"  # a ``seqbench speed`` run's rows
SCALING_CSV = "scaling.csv"  # and its exponents of time against length
CURVES_CSV = "curves.csv"  # training curves, one line per log event (seqbench.curves)
CONFIG_JSON = "config.json"
ENVIRONMENT_JSON = "environment.json"
FINISHED = ("ok", "diverged")  # statuses --resume does not run again


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class RunDir:
    """One run's folder."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

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

    @property
    def run_id(self) -> str:
        return self.path.name

    def write_json(self, name: str, data: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")

    def read_json(self, name: str) -> Any:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {self.path / name}: {exc}") from None

    def append(self, row: dict[str, Any], name: str = RESULTS_CSV) -> None:
        """Add a finished trial's row and rewrite the run's CSV (results.csv; speed.csv for
        ``seqbench speed``) atomically."""
        self.replace_rows([*self.rows, row], name)

    def replace_rows(self, rows: list[dict[str, Any]], name: str = RESULTS_CSV) -> None:
        """Replace every row (e.g. with the ``selected`` column of a tuned run), atomically."""
        self.rows = list(rows)
        columns: dict[str, None] = {}
        for r in self.rows:
            columns.update(dict.fromkeys(r))
        atomic_write_text(self.path / name, _to_csv(self.rows, list(columns)))

    def finished_keys(self) -> set[str]:
        """Trials already done (ok or diverged); --resume skips these."""
        return {r["trial"] for r in self.rows if str(r.get("status")) in FINISHED}

    def frame(self) -> Any:
        return rows_to_frame(self.rows)


def _to_csv(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return "" if value is None else value


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    frame = read_frame(path)
    return frame.to_dict("records")


def read_frame(path: Path) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(path, keep_default_na=False, na_values=["", "nan", "NaN"])
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def rows_to_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(rows)
    if "trial" in frame:
        frame = frame.drop_duplicates("trial", keep="last").reset_index(drop=True)
    return frame


def load_run(path: Union[str, Path]) -> Any:
    """The results of a run directory (or of a results.csv path) as a DataFrame."""
    path = Path(path)
    csv_path = path / RESULTS_CSV if path.is_dir() else path
    if not csv_path.is_file():
        raise UsageError(f"no results at {path} (expected a run directory holding {RESULTS_CSV})")
    return rows_to_frame(read_frame(csv_path).to_dict("records"))
