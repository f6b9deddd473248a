"""``seqbench plugins``: the loaded plugins and what each contributes; ``plugins new`` scaffolds one."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from seqbench.hookspecs import hookimpl


def add_arguments(plugins: argparse.ArgumentParser) -> None:
    sub = plugins.add_subparsers(dest="plugins_command", metavar="SUBCOMMAND", parser_class=type(plugins))
    new = sub.add_parser("new", help="scaffold a ready-to-install plugin package with one example cell",
                         description="Create NAME/ (in --dir): pyproject.toml with the entry point, seqbench_NAME/ "
                         "with an example cell named NAME, a conformance test, a README. Then: pip install -e NAME "
                         "&& seqbench run --cells NAME")
    new.add_argument("name", metavar="NAME", help="plugin and cell name: lowercase letters, digits, - and _")
    new.add_argument("--dir", default=".", help="folder to create NAME/ in (default: the current one)")


def command(args: Any, registry: Any) -> int:
    from seqbench.commands.output import stdout
    from seqbench.reporting.registry_tables import plugins_table
    from seqbench.reporting.table import print_tables

    if args.plugins_command == "new":
        from seqbench.plugins.scaffold import scaffold

        path = scaffold(args.name, args.dir, taken=registry.cells)
        print(f"created {path}: next, pip install -e {path} && seqbench run --cells {args.name}", file=sys.stderr)
        return 0
    print_tables([plugins_table(registry)], stdout())
    return 0


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("plugins", add_arguments, command, help="list loaded plugins and what each contributes; "
             "'plugins new NAME' scaffolds a plugin package",
             description="Without a subcommand: list loaded plugins (name, version, where loaded from, what each "
             "contributes).")
