"""``seqbench compare``: two or more runs side by side (``seqbench.studies.comparison``)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from seqbench.commands import options as opt
from seqbench.hookspecs import hookimpl


def add_arguments(cmp: argparse.ArgumentParser) -> None:
    opt.add_wide(cmp)
    cmp.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories; the first is the baseline")
    cmp.add_argument("--fail-on-regression", dest="fail_on_regression", metavar="PCT",
                     help="exit 1 when the tested (primary) metric is significantly worse, after Holm's correction, "
                     "by more than PCT %%")
    cmp.add_argument("--correction", choices=("holm", "bh"), default="holm", help="multiplicity correction over "
                     "the tested comparisons: holm (family-wise error) or bh (Benjamini–Hochberg false discovery "
                     "rate) (default: holm)")
    cmp.add_argument("--test", dest="tested", metavar="METRIC", help="the metric to test instead of each task's "
                     "primary metric, e.g. solved (Fisher's exact test)")
    cmp.add_argument("--format", choices=("table", "markdown", "csv", "json"), default="table",
                     help="output format (default: table)")
    cmp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def command(args: Any, registry: Any) -> int:
    from seqbench.commands.output import stdout, write
    from seqbench.reporting.table import print_tables
    from seqbench.reporting.compare_tables import export, regressions, tables
    from seqbench.errors import UsageError
    from seqbench.studies.comparison import check_pct, compare, undecided

    pct = check_pct(args.fail_on_regression)
    frame = compare(args.runs, correction=args.correction, tested=args.tested)
    if args.format == "table" and not args.output:
        print_tables(tables(frame), stdout(), wide=args.wide)
    else:
        text = export(frame, "markdown" if args.format == "table" else args.format)
        write(text, args.output, "comparison")
    if pct is None:
        return 0
    found = regressions(frame, pct)
    reason = undecided(frame)
    if reason and not found:  # a gate that decided nothing never passes
        raise UsageError(f"--fail-on-regression: {reason}")
    for line in found:
        print(f"seqbench: regression: {line}", file=sys.stderr)
    return 1 if found else 0


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("compare", add_arguments, command, help="compare two or more runs (or speed runs) side by side",
             description="Match rows by cell × task × length (and the options a run varies), name the options "
             "that differ, show each metric per run with its difference and ratio to the first run (95 %% intervals). "
             "Only the task's primary metric is tested (paired t-test when both runs share seeds, else Welch; "
             "Fisher's exact test for solved rates), p corrected by Holm over all tested comparisons; fewer than 3 "
             "seeds a side: inconclusive. Speed runs: non-overlapping interquartile bands. Exit 2 when nothing is "
             "compared.")
