"""Named suites: TOML files listing the parts of a standard comparison.

A suite has optional ``description`` and ``[defaults]``, and one or more ``[[part]]`` tables;
each part is a run configuration (the keys of ``seqbench run``'s options: cells, tasks,
lengths, steps, budget, seeds, hidden, params, state_size, backbone, layers, batch, lr, dropout,
clip, device, eval_every, eval_examples, task_params, cell_params) on top of the defaults. The built-in
suites live in ``seqbench/suites/``; ``--suite PATH`` takes a user's own file.
"""
from __future__ import annotations

import difflib
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from seqbench.spec.config import RunConfig
from seqbench.errors import UsageError

SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"
# reference: published numbers (seqbench.reporting.published_tables); protocol: how the run is scored
# ("mad": the MAD score, seqbench.studies.mad)
TOP_KEYS = ("description", "defaults", "part", "reference", "protocol")
PROTOCOLS = ("mad",)
ALIASES = {"budget": "budget_s"}
SIZES = ("hidden", "params", "state_size")  # what sets a model's width: one of them
CONFIG_KEYS = sorted({f.name for f in fields(RunConfig)} - {"budget_s", "plugins"} | set(ALIASES))


def builtin_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def suite_path(name_or_path: Union[str, Path]) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise UsageError(f"suite file {path} does not exist")
        return path
    if (SUITES_DIR / f"{name_or_path}.toml").is_file():  # a name wins over a folder of that name
        return SUITES_DIR / f"{name_or_path}.toml"
    if path.exists():
        raise UsageError(f"suite {path} is a folder; give a suite name or a TOML file")
    from seqbench.errors import unknown_name

    raise unknown_name("suite", str(name_or_path), builtin_suites())


def _toml_load(path: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python < 3.11
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read suite {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"suite {path} is not valid TOML: {exc}") from None


def _check_keys(where: str, table: Any, allowed: list[str]) -> None:
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table")
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UsageError(f"{where}: unknown key '{key}'{hint}")


def load_suite(name_or_path: Union[str, Path], overrides: Mapping[str, Any] = ()) -> tuple[str, list[RunConfig]]:
    """The suite's description and one RunConfig per part (``overrides`` win over the file)."""
    path = suite_path(name_or_path)
    data = _toml_load(path)
    _check_keys(f"suite {path.name}", data, list(TOP_KEYS))
    _protocol(path, data)
    defaults = data.get("defaults", {})
    _check_keys(f"suite {path.name} [defaults]", defaults, CONFIG_KEYS)
    parts = data.get("part")
    if not parts or not isinstance(parts, list):
        raise UsageError(f"suite {path.name} has no [[part]] table")
    configs = []
    for i, part in enumerate(parts, 1):
        _check_keys(f"suite {path.name} part {i}", part, CONFIG_KEYS)
        merged = {ALIASES.get(k, k): v for k, v in {**defaults, **part}.items()}
        if any(size in overrides for size in SIZES):  # a width or budget given on the command line replaces
            for size in SIZES:                          # the suite's
                if size not in overrides:
                    merged.pop(size, None)
        merged.update(overrides)
        if "cells" not in merged:
            raise UsageError(f"suite {path.name} part {i}: no cells")
        try:
            configs.append(RunConfig(**merged))
        except UsageError as exc:
            raise UsageError(f"suite {path.name} part {i}: {exc}") from None
    return str(data.get("description", "")), configs


def suite_protocol(suite: Union[str, Path]) -> Optional[str]:
    """A suite's ``protocol`` (None when it has none); a UsageError for an unknown one."""
    path = suite_path(suite)
    return _protocol(path, _toml_load(path))


def _protocol(path: Path, data: Mapping[str, Any]) -> Optional[str]:
    protocol = data.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        raise UsageError(f"suite {path.name}: unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    return protocol


RESULT_KEYS = ("task", "length", "task_opts", "metric", "values", "scale", "definition", "baseline", "baseline_note")


def suite_reference(suite: Union[str, Path]) -> Optional[dict[str, Any]]:
    """A suite's ``[reference]`` table, checked (None when it has none)."""
    path = suite_path(suite)
    reference = _toml_load(path).get("reference")
    if reference is None:
        return None
    where = f"suite {path.name} [reference]"
    if not isinstance(reference, dict) or not isinstance(reference.get("result"), list):
        raise UsageError(f"{where} needs a source and one or more [[reference.result]] tables")
    for i, result in enumerate(reference["result"], 1):
        unknown = sorted(set(result) - set(RESULT_KEYS))
        if unknown or not {"task", "length", "values"} <= set(result) or not isinstance(result["values"], dict):
            raise UsageError(f"{where} result {i}: needs task, length and values (a table of numbers); "
                             f"unknown key(s): {', '.join(unknown) or 'none'}")
        for cell, value in result["values"].items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"{where} result {i}: value of {cell} must be a number, got {value!r}")
        if not isinstance(result.get("task_opts", {}), dict):
            raise UsageError(f"{where} result {i}: task_opts must be a table of task options")
    return reference
