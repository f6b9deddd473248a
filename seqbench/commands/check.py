"""``seqbench check``: the conformance checks on cells (``seqbench.studies.conformance``)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from seqbench.commands.options import CELL_GROUPS_HELP
from seqbench.hookspecs import hookimpl


def add_arguments(check: argparse.ArgumentParser) -> None:
    check.add_argument("--cells", help=f"comma-separated cell names or {CELL_GROUPS_HELP} (default: every "
                       "registered cell)")
    check.add_argument("--backbone", default="plain", help="plain (default: each cell as built) or block (each "
                       "cell's mixer in the shared residual blocks, seqbench.models.backbone)")


def command(args: Any, registry: Any) -> int:
    from seqbench.commands.output import stdout
    from seqbench.reporting.check_tables import check_table
    from seqbench.reporting.table import print_tables
    from seqbench.spec.config import parse_names
    from seqbench.words import plural

    from seqbench.errors import UsageError
    from seqbench.spec.config import BACKBONES

    if args.backbone not in BACKBONES:
        raise UsageError(f"unknown backbone {args.backbone!r}; use {' or '.join(BACKBONES)}")
    names = None if args.cells is None else registry.select_cells(parse_names(args.cells, "cells"))
    for name in names or ():
        registry.get("cell", name)  # a typo is reported before torch is imported
    from seqbench.studies.conformance import check_cells

    results = check_cells(names, registry, args.backbone)
    print_tables([check_table(results)], stdout())
    failed = sum(not r.passed for r in results)
    cells = len({r.cell for r in results})
    for cell in dict.fromkeys(r.cell for r in results if not r.passed):  # one line per failing cell
        checks = ", ".join(r.check for r in results if r.cell == cell and not r.passed)
        print(f"seqbench: cell '{cell}' (plugin '{registry.cells[cell].provider}') failed: {checks}", file=sys.stderr)
    print(f"{plural(cells, 'cell')}, {len(results) - failed} passed, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("check", add_arguments, command, help="run the conformance checks on cells",
             description="Check each cell: shapes, causality, step-by-step equals full sequence, determinism, "
             "parameter count, equality with its fused twin.")
