"""``seqbench list``: the registered cells, tasks, metrics and report formats, with their plugin."""
from __future__ import annotations

import argparse
from typing import Any

from seqbench.hookspecs import hookimpl


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond -p."""


def command(args: Any, registry: Any) -> int:
    from seqbench.commands.output import stdout
    from seqbench.reporting.registry_tables import list_table
    from seqbench.reporting.table import print_tables

    print_tables([list_table(registry)], stdout())
    return 0


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("list", add_arguments, command, help="list cells, tasks, metrics and report formats with their plugin")
