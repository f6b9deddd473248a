"""``seqbench inspect gradients`` and ``seqbench inspect gates``: options in, tables and figures out.

Tables go to stdout; where the figure or CSV went, to stderr. A figure (``-o FILE``) needs
matplotlib: without it the command says how to install it and exits 2 before any work; the
tables and ``--csv`` work without it.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from seqbench.errors import UsageError


def command(args: Any, registry: Any, console: Any) -> int:
    """Run the ``inspect`` subcommand ``args.inspect_command``; the exit code."""
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
