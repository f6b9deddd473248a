"""Parallel vs step-by-step training speed of every modern cell (group ``modern`` of the registry).

For each cell: the width of a 20k-parameter model on the adding task (as ``--params 20k`` solves
it), then forward + backward of the cell alone, batch 16, at T = 256 and T = 1024, once with
``mode=parallel`` and once with ``mode=sequential`` (the same weights), and the ratio
sequential / parallel (> 1: the parallel form is faster; the target is >= 5 at T = 1024).
Medians of ``--repeats`` timed passes after one warm-up; both modes are measured in this one
process, alternately, so machine load affects both alike. ``--clock cpu`` times the process's CPU
time instead of wall time: on a machine loaded by other jobs, time this process waited for a core
is then not counted (use it with ``--threads 1``, where CPU time is the time of the one thread).

    python benchmarks/modern_speed.py [--cells s6,s4d] [--lengths 256,1024] [--repeats 3] [--threads 2] [--clock cpu]
"""
from __future__ import annotations

import argparse
import statistics
import time


def fwd_bwd_seconds(cell, x, repeats: int, clock=time.perf_counter) -> float:
    """Median seconds of forward + backward of ``cell`` on ``x`` (after one warm-up pass)."""
    times = []
    for i in range(repeats + 1):
        cell.zero_grad(set_to_none=True)
        start = clock()
        y, _ = cell(x)
        y.pow(2).mean().backward()
        if i:
            times.append(clock() - start)
    return statistics.median(times)


def width(registry, name: str, params: int) -> int:
    """The width ``--params`` gives cell ``name`` on the adding task (1 layer)."""
    from seqbench.models.budget import match_hidden

    task = registry.get("task", "adding").obj(50)
    return match_hidden(task, registry.get("cell", name), params, 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="modern", help="cells or groups (default: the group modern)")
    parser.add_argument("--lengths", default="256,1024")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--params", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="wall time or process CPU time")
    args = parser.parse_args()

    import torch

    from seqbench.plugins.registry import Registry
    from seqbench.spec.config import parse_names

    torch.set_num_threads(args.threads)
    registry = Registry(entry_points=False)
    names = registry.select_cells(parse_names(args.cells))
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"batch {args.batch}, {args.params:,}-parameter width on adding, forward+backward, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}, {args.clock} time")
    print(f"{'cell':10s} {'width':>5s} {'T':>5s} {'sequential ms':>14s} {'parallel ms':>12s} {'ratio':>6s}")
    for name in names:
        d = width(registry, name, args.params)
        entry = registry.get("cell", name)
        for length in (int(t) for t in args.lengths.split(",")):
            x = torch.randn(args.batch, length, 2)  # adding's two input channels
            seconds = {}
            try:
                for mode in ("sequential", "parallel"):
                    torch.manual_seed(0)
                    seconds[mode] = fwd_bwd_seconds(entry.obj(2, d, 1, 0.0, mode=mode), x, args.repeats, clock)
            except ValueError as exc:  # sLSTM: no parallel form, said in one line
                print(f"{name:10s} {d:5d} {length:5d} {seconds.get('sequential', 0) * 1e3:14.1f} {'–':>12s} "
                      f"{'–':>6s}  ({str(exc).split(';')[0]})", flush=True)
                continue
            print(f"{name:10s} {d:5d} {length:5d} {seconds['sequential'] * 1e3:14.1f} "
                  f"{seconds['parallel'] * 1e3:12.1f} {seconds['sequential'] / seconds['parallel']:6.1f}", flush=True)


if __name__ == "__main__":
    main()
