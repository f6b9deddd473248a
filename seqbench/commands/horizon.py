"""``seqbench horizon``: each cell's memory horizon (``seqbench.sweep.horizon``)."""
from __future__ import annotations

import argparse
from typing import Any

from seqbench.commands import options as opt
from seqbench.hookspecs import hookimpl


def add_arguments(hz: argparse.ArgumentParser) -> None:
    opt.add_wide(hz)
    hz.add_argument("--cells", help=f"comma-separated cell names or {opt.CELL_GROUPS_HELP} (default: the default set)")
    hz.add_argument("--task", help="a task that declares a solved criterion (default: adding)")
    hz.add_argument("--seeds", help="seeds per length; solved when a majority solve it (default: 3)")
    hz.add_argument("--from", dest="start", help="first length (default: 25; halved when it fails)")
    hz.add_argument("--max-length", dest="max_length", help="longest length probed (default: 4096)")
    hz.add_argument("--resolution", help="bisect until the first failed length is within this fraction of the "
                    "horizon (default: 0.1; 0: to the exact length)")
    opt.add_trial_options(hz, grid=False)
    hz.add_argument("--full-budget", dest="stop_when_solved", action="store_false", default=None,
                    help="train every trial for its whole budget (default: stop once solved)")
    opt.add_out(hz)
    hz.add_argument("--resume", metavar="RUN_DIR", help="continue a horizon search, reusing its finished trials")
    hz.add_argument("--dry-run", dest="dry_run", action="store_true", help="validate, show the search's size and "
                    "longest duration, and stop")
    opt.add_quiet(hz)
    opt.add_execution(hz)  # each round's trials shared out among workers


def command(args: Any, registry: Any) -> int:
    from seqbench.commands.output import interrupted, stderr, stdout
    from seqbench.reporting.run_report import load_report
    from seqbench.reporting.table import print_tables
    from seqbench.sweep.horizon import horizon

    options = opt.trial_options(args, opt.TRIAL_NAMES + ("stop_when_solved",))
    err = stderr()
    try:
        result = horizon(args.cells, args.task, seeds=args.seeds, start=args.start, max_length=args.max_length,
                         resolution=args.resolution, out=args.out or "results", plugins=args.plugins,
                         resume=args.resume, registry=registry, progress=not args.quiet and not args.dry_run,
                         dry_run=args.dry_run, execution=opt.execution_from(args),
                         announce=lambda line: err.print(f"seqbench horizon: {line}", highlight=False), **options)
    except KeyboardInterrupt as interrupt:
        return interrupted(interrupt, "horizon")
    if args.dry_run:
        return 0
    run_dir = result.attrs["run_dir"]
    print_tables(load_report(run_dir).tables(), stdout(), wide=args.wide)
    err.print(f"results: {run_dir}/results.csv · figure: seqbench plot {run_dir}", highlight=False)
    return 0


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("horizon", add_arguments, command, help="per cell, the longest length it solves within a budget "
             "(memory horizon)",
             description="Per cell: lengths doubled from --from until one fails (halved when --from itself fails, "
             "until one is solved), then bisected to --resolution; a length counts as solved when a majority of "
             "seeds solve it (seeds in order, stopping once decided; each trial stops once solved). Every trial is "
             "a row of RUN_DIR/results.csv: seqbench report, plot and --resume work on it.")
