"""The table of ``seqbench check``: one row per cell × conformance check."""
from __future__ import annotations

from typing import Any, Iterable

from seqbench.reporting.table import TableData


def check_table(results: Iterable[Any]) -> TableData:
    """``studies.conformance.check_cells`` results: passes in green (best), failures marked FAIL."""
    table = TableData("seqbench check", "float64, CPU, eval mode; exit 1 if any check fails",
                      ["cell", "check", "result", "detail"])
    for r in results:
        table.add([r.cell, r.check, "pass" if r.passed else "[bold red]FAIL[/]", r.detail],
                  best=[False, False, r.passed, False])
    return table
