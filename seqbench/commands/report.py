"""``seqbench report``: print or export a run's tables in a registered report format."""
from __future__ import annotations

import argparse
from typing import Any

from seqbench.commands import options as opt
from seqbench.hookspecs import hookimpl


def add_arguments(report: argparse.ArgumentParser) -> None:
    opt.add_wide(report)
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--format", metavar="NAME", help="table, markdown, csv, json, html or a plugin's format "
                        "(default: table, or the format whose suffix -o FILE ends with)")
    report.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    view = report.add_mutually_exclusive_group()
    view.add_argument("--all", dest="view", action="store_const", const="all", default="auto",
                      help="a tuned run: every configuration, not only the selected ones")
    view.add_argument("--tuned", dest="view", action="store_const", const="tuned",
                      help="only each cell's configuration with the best mean validation metric")


def command(args: Any, registry: Any) -> int:
    from pathlib import Path

    from seqbench.commands.output import stdout, write
    from seqbench.errors import UsageError
    from seqbench.reporting.run_report import load_report
    from seqbench.reporting.table import print_tables

    run = load_report(args.run_dir, args.view)
    if run.results.empty:
        raise UsageError(f"{args.run_dir} has no finished trials yet")
    fmt = args.format
    if fmt is None and args.output:
        suffix = Path(args.output).suffix
        fmt = next((e.name for e in registry.report_formats.values() if e.extra["suffix"] == suffix), None)
    entry = registry.get("report_format", fmt or "table")
    if entry.name == "table" and not args.output:
        print_tables(run.tables(), stdout(), wide=args.wide)  # in colour on a terminal
        return 0
    try:
        text = entry.obj(run.results, run)
    except Exception as exc:  # noqa: BLE001 - a plugin's format must not end in a traceback
        raise UsageError(f"report format '{entry.name}' (plugin '{entry.provider}') failed: "
                         f"{type(exc).__name__}: {exc}") from None
    if not isinstance(text, str):
        raise UsageError(f"report format '{entry.name}' (plugin '{entry.provider}') returned "
                         f"{type(text).__name__}, not a string")
    write(text, args.output)
    return 0


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("report", add_arguments, command, help="print or export a run's tables (seqbench run or seqbench speed)")
