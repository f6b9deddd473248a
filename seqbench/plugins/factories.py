"""Building what plugins registered, with bad parameters turned into one-line usage errors."""
from __future__ import annotations

import inspect
from typing import Any, Optional

from seqbench.errors import UsageError
from seqbench.plugins.registry import Entry


def check_params(entry: Entry, params: dict, skip: int) -> None:
    """Raise a UsageError naming ``entry`` when ``params`` holds a keyword its factory does
    not take (the first ``skip`` positional parameters are the harness's own)."""
    known = accepted_params(entry, skip)
    if known is None:
        return
    unknown = sorted(set(params) - set(known))
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(f"{entry.kind} '{entry.name}' has no parameter {', '.join(map(repr, unknown))}{hint}; "
                         f"it takes: {', '.join(known) or 'none'}")


def accepted_params(entry: Entry, skip: int) -> Optional[list[str]]:
    """The keyword parameters of ``entry``'s factory after the harness's ``skip`` positional ones;
    None when it takes any keyword (``**kwargs``) or has no readable signature."""
    try:
        parameters = list(inspect.signature(entry.obj).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters[skip:]]


def build_task(entry: Entry, length: int, params: Optional[dict] = None) -> Any:
    """Instantiate a registered task; bad parameters become a UsageError naming the task."""
    params = params or {}
    check_params(entry, params, skip=1)
    try:
        return entry.obj(length, **params)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"task '{entry.name}' at length {length}: {exc}") from None
