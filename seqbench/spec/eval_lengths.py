"""Evaluation lengths as written on the command line: multiples of the trained length
(``2x``) and absolute lengths (``1000``)."""
from __future__ import annotations

import re
from typing import Any, Iterable, Union

from seqbench.errors import UsageError

_TIMES = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*[x×]\s*$", re.IGNORECASE)


def parse_eval_lengths(value: Union[str, Iterable[Any], None]) -> list:
    """``"2x,4x,1000"`` (or a list) → ``["2x", "4x", 1000]``: multiples of the trained length
    (``Nx``) and absolute lengths; a UsageError for anything else."""
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        match = _TIMES.match(text)
        if match:
            factor = float(match.group(1))
            if not factor > 0:
                raise UsageError(f"eval length {text!r}: a multiple must be positive, e.g. 2x")
            out.append(f"{factor:g}x")
            continue
        try:
            number = int(text)
        except ValueError:
            raise UsageError(f"eval length {text!r}: use a multiple of the trained length such as 2x or a "
                             "length such as 1000") from None
        if number < 1:
            raise UsageError(f"eval length {text!r} must be a positive length")
        out.append(number)
    return list(dict.fromkeys(out))


def absolute_lengths(requested: Iterable[Any], length: int) -> list[int]:
    """The lengths ``requested`` stands for at trained length ``length`` (``"2x"`` → 2·length,
    rounded), without the trained length itself and duplicates."""
    out = []
    for item in requested:
        value = max(1, round(float(str(item)[:-1]) * length)) if str(item).endswith("x") else int(item)
        if value != length:
            out.append(value)
    return list(dict.fromkeys(out))
