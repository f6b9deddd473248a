"""Counted nouns for messages: ``plural(1, "cell")`` is "1 cell", ``plural(2, "cell")`` "2 cells"."""
from __future__ import annotations

from typing import Optional


def plural(count: int, word: str, words: Optional[str] = None) -> str:
    """``count`` (thousands separated) and ``word``, or ``words`` (default ``word + "s"``) unless it is 1."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"
