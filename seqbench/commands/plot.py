"""``seqbench plot``: draw a run's figures (``seqbench.reporting.plots``)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from seqbench.hookspecs import hookimpl

KINDS = ("curves", "length", "speed", "pareto", "horizon", "generalization", "mad", "state", "all")


def add_arguments(plot: argparse.ArgumentParser) -> None:
    plot.add_argument("run_dir", metavar="RUN_DIR")
    plot.add_argument("--kind", default="all", choices=KINDS, help="which figures (default: all that apply to the run)")
    plot.add_argument("-o", "--output", metavar="DIR", help="folder for the figures (default: RUN_DIR/plots)")
    plot.add_argument("--format", default="png", choices=("png", "svg", "pdf"), help="file format (default: png)")


def command(args: Any, registry: Any) -> int:
    from pathlib import Path

    from seqbench.reporting.plots import figures, left_out_line, require_matplotlib, save

    require_matplotlib()  # before reading anything: one line naming the extra to install
    drawn = figures(args.run_dir, args.kind)
    paths = save(drawn, args.output or Path(args.run_dir) / "plots", args.format)
    for path in paths:
        print(path)
    if not paths:
        print(f"seqbench: no figure applies to {args.run_dir}"
              + (f" ({left_out_line(drawn.notes)})" if drawn.notes else ""), file=sys.stderr)
    elif drawn.notes:
        print(f"seqbench: {left_out_line(drawn.notes)}", file=sys.stderr)
    return 0


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("plot", add_arguments, command, help="draw a run's figures (needs matplotlib)",
             description="Learning curves, the primary metric against length, speed scaling and quality against "
             "throughput, one colour per cell; a MAD run's score as a heat map of cells × tasks. Needs: pip install 'seqbench[plots]'.")
