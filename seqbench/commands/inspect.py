"""``seqbench inspect gradients`` and ``seqbench inspect gates``: options in, tables and figures out.

Tables go to stdout; where the figure or CSV went, to stderr. A figure (``-o FILE``) needs
matplotlib: without it the command says how to install it and exits 2 before any work; the
tables and ``--csv`` work without it.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from seqbench.commands.options import CELL_GROUPS_HELP, add_plugins
from seqbench.errors import UsageError
from seqbench.hookspecs import hookimpl


def add_arguments(insp: Any) -> None:
    sub = insp.add_subparsers(dest="inspect_command", metavar="SUBCOMMAND", parser_class=type(insp), required=True)
    grad = sub.add_parser("gradients", help="gradient norm against distance to the loss step, per cell",
                          description="Norm of the loss's gradient with respect to the cell's input at every step, "
                          "against the distance to the final scored step, on one held-out batch, in float64: decay "
                          "per step and ratio at distance T to distance 1.")
    add_plugins(grad)
    grad.add_argument("checkpoints", nargs="*", metavar="CHECKPOINT", help="trained models (a run's checkpoints/*.pt)")
    grad.add_argument("--cells", help=f"cells measured at initialization: names or {CELL_GROUPS_HELP} (default: "
                      "the default set, when no checkpoint is given)")
    grad.add_argument("--task", help="task (default: the checkpoints' task, else adding)")
    grad.add_argument("--length", help="sequence length T (default: the checkpoints' length, else 100)")
    grad.add_argument("--params", help="parameter budget, e.g. 20k: each cell's width matches it (instead of --hidden)")
    grad.add_argument("--hidden", help="hidden size (default: 64)")
    grad.add_argument("--seed", default="0", help="initialization seed, as trial seed S of seqbench run (default: 0)")
    grad.add_argument("--batch", default="64", help="held-out examples in the batch (default: 64)")
    grad.add_argument("-o", "--output", metavar="FILE", help="write the figure (.png, .svg, .pdf; needs matplotlib)")
    grad.add_argument("--csv", metavar="FILE", help="write the long table (cell, source, distance, grad_norm, ...)")
    gates = sub.add_parser("gates", help="gates of an lstm/gru checkpoint along a task example",
                           description="Load an lstm or gru checkpoint (fused or -ref) into the reference cell and "
                           "record every gate along a held-out example; plugin cells answer through the "
                           "seqbench_inspect_cell hook.")
    add_plugins(gates)
    gates.add_argument("checkpoint", metavar="CHECKPOINT", help="a run's checkpoints/*.pt file")
    gates.add_argument("--example", default="0", help="index N of the held-out example (default: 0)")
    gates.add_argument("-o", "--output", metavar="FILE", help="write the heat maps (.png, .svg, .pdf; needs matplotlib)")
    gates.add_argument("--csv", metavar="FILE", help="write the per-gate summary")


def command(args: Any, registry: Any) -> int:
    """Run the ``inspect`` subcommand ``args.inspect_command``; the exit code."""
    from seqbench.commands.output import stdout

    console = stdout()
    if args.output:
        from seqbench.inspect.figures import FORMATS, require_matplotlib

        if Path(args.output).suffix.lower() not in FORMATS:
            raise UsageError(f"-o {args.output}: the figure file must end in {', '.join(FORMATS)}")
        require_matplotlib()
    if args.inspect_command == "gradients":
        return _gradients(args, registry, console)
    return _gates(args, registry, console)


def _gradients(args: Any, registry: Any, console: Any) -> int:
    from seqbench.spec.config import parse_names
    from seqbench.inspect.figures import gradient_figure, gradient_title
    from seqbench.inspect.gradients import gradient_flow, summarize
    from seqbench.reporting.inspect_tables import gradient_table

    frame = gradient_flow(parse_names(args.cells), args.task, args.length, params=args.params, hidden=args.hidden,
                          seed=args.seed, checkpoints=args.checkpoints, batch=args.batch, registry=registry)
    console.print(gradient_table(summarize(frame), gradient_title(frame)))
    if args.csv:
        _write(args.csv, lambda path: frame.to_csv(path, index=False))
    if args.output:
        _save(gradient_figure(frame), args.output)
    return 0


def _gates(args: Any, registry: Any, console: Any) -> int:
    from seqbench.inspect.figures import gate_figure
    from seqbench.inspect.gates import headline, record_gates, summarize_gates
    from seqbench.reporting.inspect_tables import gate_table

    record = record_gates(args.checkpoint, args.example, registry)
    summary = summarize_gates(record)
    console.print(gate_table(record, summary))
    line = headline(record)
    if line:
        console.print(line, highlight=False)
    if args.csv:
        _write(args.csv, lambda path: summary.to_csv(path, index=False))
    if args.output:
        _save(gate_figure(record), args.output)
    return 0


def _write(path: str, write: Any) -> None:
    try:
        write(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    print(f"table: {path}", file=sys.stderr)


def _save(fig: Any, path: str) -> None:
    from seqbench.inspect.figures import save_figure

    print(f"figure: {save_figure(fig, path)}", file=sys.stderr)


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("inspect", add_arguments, command, help="why a cell succeeds or fails: gradient flow over time, gates "
             "at work", description="Gradient flow of cells at initialization and of checkpoints; the gates of an "
             "LSTM or GRU checkpoint along a task example.")
