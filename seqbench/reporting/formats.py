"""How every table writes a number: one formatter of values, value ± spread and intervals, and
one lookup of a column's label and direction (↑ higher / ↓ lower is better). Missing values
(None, NaN) are written ``–``.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from seqbench.stats import TOO_SMALL
from seqbench.tasks.metrics import DIRECTIONS

MISSING = "–"
# Columns the harness measures itself, with their direction (True: higher is better).
HARNESS_COLUMNS: dict[str, Optional[bool]] = {
    "hidden": None, "params": None, "state_floats": None, "gap": False, "solved": True, "steps_to_solve": False,
    "steps": None, "train_tok_s": True, "infer_tok_s": True, "peak_mem_mb": False, "train_mem_mb": False,
}
BUILTIN_METRICS = DIRECTIONS
LABELS = {
    "hidden": "hidden", "params": "params", "state_floats": "state", "loss": "loss", "accuracy": "accuracy",
    "perplexity": "ppl", "bits_per_token": "bits/tok", "gap": "gap to opt", "solved": "solved",
    "steps_to_solve": "steps to solve", "steps": "steps", "train_tok_s": "train tok/s",
    "infer_tok_s": "infer tok/s", "peak_mem_mb": "CUDA peak MB", "train_mem_mb": "train MB (computed)",
    "gen_ms_per_tok": "gen ms/tok",
}
COUNTS = ("hidden", "params", "steps", "steps_to_solve", "train_tok_s", "infer_tok_s")
MEGABYTES = ("peak_mem_mb", "train_mem_mb")
STATE_NOTE = "state: floats carried per sequence at the trial's length"  # the legend of a "state" column
NO_SPREAD = ("hidden", "params", "state_floats", "solved", "steps", "train_mem_mb")


def missing(value: Any) -> bool:
    """None or NaN."""
    try:
        return value is None or math.isnan(value)
    except TypeError:  # not a number (a label): present
        return False


def text(value: Any, spec: str = ".4g") -> str:
    """``value`` in the format ``spec``, or ``–`` when missing."""
    return MISSING if missing(value) else format(value, spec)


def compact(value: Any) -> str:
    """A size in two or three figures: 64, 2.1k, 131k, 4.2M (``–`` when missing)."""
    if missing(value):
        return MISSING
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale * 0.9995:
            shown = value / scale
            return f"{shown:.2g}{suffix}" if shown < 10 else f"{shown:.0f}{suffix}"
    return f"{value:.0f}"


def number(name: str, value: float, digits: int = 4) -> str:
    """``value`` written as column ``name`` writes it: counts with thousands separators, MB to
    a tenth or a hundredth, ``solved`` as a percentage, the rest to ``digits`` significant figures."""
    if missing(value):
        return MISSING
    if name == "state_floats":
        return compact(value)
    if name in COUNTS:
        return f"{value:,.0f}"
    if name in MEGABYTES:
        return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"
    if name == "solved":
        return f"{value:.0%}"
    return f"{value:.{digits}g}"


def value_spread(name: str, value: float, spread: float = math.nan, digits: int = 4) -> str:
    """``value`` and, where there is one and column ``name`` has a spread, ``± spread`` (two figures)."""
    if missing(value):
        return MISSING
    out = number(name, value, digits)
    if not missing(spread) and name not in NO_SPREAD:
        out += f" ± {number(name, spread, digits=2)}"
    return out


def interval(name: str, lo: float, hi: float, note: str = "") -> str:
    """``[lo, hi]``; when the interval is unknown, ``n too small`` if ``note`` says so (fewer
    than 3 seeds, ``seqbench.stats.interval``), else ``–``."""
    if missing(lo) or missing(hi):
        return TOO_SMALL if str(note).startswith(TOO_SMALL) else MISSING
    return f"[{number(name, lo)}, {number(name, hi)}]"


def short(value: float) -> str:
    """A number in a sentence: whole above 1,000, else four significant figures."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def label(name: str) -> str:
    """A column's short label (``perplexity`` → ``ppl``)."""
    return LABELS.get(name, name)


def arrow(higher_is_better: Optional[bool]) -> str:
    """`` ↑`` (higher is better), `` ↓`` (lower) or nothing (neither)."""
    return {True: " ↑", False: " ↓", None: ""}[higher_is_better]


def header(name: str, higher_is_better: Optional[bool]) -> str:
    """A column's label with its direction: ``ppl ↓``."""
    return label(name) + arrow(higher_is_better)


def direction(name: str, metrics: Optional[dict] = None) -> Optional[bool]:
    """Whether higher is better for column ``name`` (None: neither): the harness's own columns,
    then ``metrics`` (a run's), then the built-in metrics."""
    if name in HARNESS_COLUMNS:
        return HARNESS_COLUMNS[name]
    return {**BUILTIN_METRICS, **(metrics or {})}.get(name)
