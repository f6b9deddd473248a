"""Parameter budgets and state sizes as written on the command line: ``50k``, ``1.5M``, ``20000``."""
from __future__ import annotations

import re
from typing import Any, Optional

from seqbench.errors import UsageError

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000}


def parse_params(value: Any) -> Optional[int]:
    """'50k', '1.5M', '20000' → a positive parameter count."""
    return parse_count(value, "parameter budget", "a count such as 50000, 50k or 1.5M")


def parse_count(value: Any, what: str, example: str) -> Optional[int]:
    """'50k', '1.5M', '20000' → a positive count; a UsageError naming ``what`` otherwise."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", str(value))
    if not match:
        raise UsageError(f"malformed {what} {value!r}: use {example}")
    count = int(round(float(match.group(1)) * _SUFFIX[match.group(2).lower()]))
    if count < 1:
        raise UsageError(f"{what} must be positive, got {value!r}")
    return count
