"""Exceptions that the CLI turns into one-line messages instead of tracebacks."""
from __future__ import annotations

import difflib
import sys
from typing import Iterable


class SeqbenchError(Exception):
    """Base class for errors seqbench reports without a traceback."""


class UsageError(SeqbenchError):
    """Bad input from the user (unknown name, bad number, broken file): exit code 2."""


class StorageError(UsageError):
    """The run folder cannot be written (disk full, read-only, deleted): exit code 2, every row
    written before is kept."""


class PluginError(SeqbenchError):
    """A plugin misbehaved (import failure, raising hook, duplicate name)."""


def warn(message: str) -> None:
    """One ``seqbench: warning: ...`` line on stderr (the run goes on)."""
    print(f"seqbench: warning: {message}", file=sys.stderr)


def unknown_name(kind: str, name: str, known: Iterable[str]) -> UsageError:
    """A UsageError for an unknown ``name`` that suggests the closest known one."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return UsageError(f"unknown {kind} '{name}'{hint}; known {kind}s: {', '.join(known) or 'none'}")
