"""``seqbench speed``: speed, memory and scaling of cells (``seqbench.studies.speed``)."""
from __future__ import annotations

import argparse
from typing import Any

from seqbench.commands import options as opt
from seqbench.hookspecs import hookimpl

SPEED_OPTIONS = ("batch", "hidden", "params", "layers", "device", "dtype", "repeats")


def add_arguments(speed: argparse.ArgumentParser) -> None:
    opt.add_wide(speed)
    speed.add_argument("--cells", help=f"comma-separated cell names or {opt.CELL_GROUPS_HELP} (default: the default "
                       "set; name the *-ref reference cells, e.g. lstm,lstm-ref, to see them beside their twins)")
    speed.add_argument("--lengths", help="comma-separated sequence lengths T (default: 64,256,1024,4096)")
    speed.add_argument("--batch", help="batch size (default: 32)")
    speed.add_argument("--hidden", help="hidden size (default: 128)")
    speed.add_argument("--params", help="parameter budget of the cell alone, e.g. 100k (instead of --hidden)")
    speed.add_argument("--layers", help="number of layers (default: 1)")
    speed.add_argument("--device", help="auto, cpu or cuda (default: auto)")
    speed.add_argument("--dtype", help="float32 or bfloat16 (default: float32)")
    speed.add_argument("--repeats", help="timed repeats per measurement, at least (default: 5)")
    opt.add_cell_opt(speed, example="lstm-ref.mode=compile")
    opt.add_out(speed)
    opt.add_quiet(speed, "no progress lines")


def command(args: Any, registry: Any) -> int:
    from seqbench.commands.output import interrupted, stderr, stdout
    from seqbench.reporting.speed_tables import render
    from seqbench.store import SPEED_CSV
    from seqbench.studies.speed import speed

    options = opt.trial_options(args, SPEED_OPTIONS)
    try:
        frame = speed(args.cells, args.lengths, out=args.out or "results", plugins=args.plugins,
                      registry=registry, progress=not args.quiet, **options)
    except KeyboardInterrupt as interrupt:
        return interrupted(interrupt, file=SPEED_CSV)
    err = stderr()
    for note in frame.attrs.get("notes", []):
        err.print(f"note: {note}", highlight=False)
    render(frame, stdout(), frame.attrs["scaling"], wide=args.wide)
    err.print(f"results: {frame.attrs['run_dir']}/{SPEED_CSV}", highlight=False)
    failed = frame[frame["status"] != "ok"]
    for _, row in failed.iterrows():
        err.print(f"[red]{row['cell']} T={row['length']}[/]: {row['status']}", highlight=False)
    return 1 if failed["status"].str.startswith("error").any() else 0


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("speed", add_arguments, command, help="measure speed, memory and scaling of cells",
             description="Per cell and length: training and inference tokens/s, generation latency per token, "
             "peak memory, FLOPs per token and %% of a matmul peak probe, and the exponent of time vs length. "
             "Results go to OUT/<run-id>/speed.csv.")
