"""Option checks of ``seqbench inspect`` beyond those of ``seqbench.spec.config``."""
from __future__ import annotations

from typing import Any

from seqbench.errors import UsageError


def non_negative_int(name: str, value: Any) -> int:
    """``value`` (an int or its text) if it is an integer >= 0; else a one-line UsageError."""
    if isinstance(value, bool):
        number = -1
    elif isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        number = int(text) if text.isdigit() else -1
    if number < 0:
        raise UsageError(f"{name} must be an integer >= 0, got {value!r}")
    return number
