"""``seqbench eval``: perplexity and bits/char of a charlm checkpoint (``seqbench.studies.lm_eval``)."""
from __future__ import annotations

import argparse
from typing import Any

from seqbench.commands import options as opt
from seqbench.hookspecs import hookimpl


def add_arguments(ev: argparse.ArgumentParser) -> None:
    opt.add_wide(ev)
    ev.add_argument("checkpoint", metavar="CHECKPOINT", help="a run's checkpoints/*.pt file")
    ev.add_argument("--corpus", metavar="PATH|NAME", help="score another text file (whole) or named corpus (split)")
    ev.add_argument("--split", choices=("test", "val"), default="test", help="held-out split (default: test)")
    ev.add_argument("--examples", type=int, help="windows to score (default: as many as the trial; a file: all)")
    ev.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    opt.add_offline(ev)


def command(args: Any, registry: Any) -> int:
    from seqbench.commands.output import stdout
    from seqbench.reporting.lm_tables import render
    from seqbench.studies.lm_eval import evaluate_checkpoint

    opt.apply_offline(args)
    frame = evaluate_checkpoint(args.checkpoint, args.corpus, args.split, args.examples, device=args.device,
                                registry=registry)
    render(frame, stdout(), wide=args.wide)
    return 0


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("eval", add_arguments, command, help="perplexity and bits/char of a charlm checkpoint",
             description="Score a checkpoint on its corpus's held-out split (the same windows the trial scored) "
             "or on another corpus or text file.")
