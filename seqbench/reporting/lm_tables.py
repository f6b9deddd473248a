"""The table of ``seqbench eval`` (``seqbench.studies.lm_eval.evaluate_checkpoint``'s rows)."""
from __future__ import annotations

from typing import Any

from seqbench.reporting.formats import text
from seqbench.reporting.table import TableData, print_tables

HEADERS = {"cell": "cell", "corpus": "corpus", "split": "split", "chars": "chars", "oov_chars": "dropped (oov)",
           "loss": "loss ↓", "perplexity": "ppl ↓", "bits_per_char": "bits/char ↓", "accuracy": "accuracy ↑"}
SPECS = {"chars": ",.0f", "oov_chars": ",.0f", "loss": ".4f", "perplexity": ".3f", "bits_per_char": ".4f",
         "accuracy": ".2%"}


def table(frame: Any) -> TableData:
    """``evaluate_checkpoint``'s result as a ``TableData``."""
    data = TableData("seqbench eval", "loss in nats per character; windows of T characters, each from a fresh state",
                     list(HEADERS.values()))
    for _, row in frame.iterrows():
        data.add([text(row[name], SPECS[name]) if name in SPECS else str(row[name]) for name in HEADERS])
    return data


def render(frame: Any, console: Any, wide: bool = False) -> None:
    """A small rich table of ``evaluate_checkpoint``'s result, fitted to the console."""
    print_tables([table(frame)], console, wide)
