"""The default task, every modern cell against the GRU: one whole trial each (training, the
periodic evaluations on the 15,000-example validation set, the test evaluation), as ``seqbench
run --cells CELL`` runs it: adding at T=50, a 20k-parameter model, batch 32, an evaluation every
100 steps. Prints each cell's seconds and its ratio to the GRU's (issue 25's goal: < 2).

``--steps 300`` (the default here) keeps the default run's mix of training and evaluation (one
evaluation per 100 steps) at a fifth of its 1,500 steps. ``--clock cpu`` times the process's CPU
time at one torch thread, so that a machine loaded by other jobs does not count the time this
process waited for a core; ``--clock wall`` times the wall clock at ``--threads``.

    python benchmarks/default_task.py [--cells gru,modern] [--steps 300] [--clock cpu|wall] [--threads 1]
"""
from __future__ import annotations

import argparse
import tempfile
import time


def trial_seconds(cell: str, steps: int, threads: int, clock) -> tuple[float, float]:
    """(seconds of the whole trial by ``clock``, its row's train_s) for ``cell`` on the default task."""
    import seqbench
    from seqbench.execute import Execution

    with tempfile.TemporaryDirectory() as out:
        start = clock()
        frame = seqbench.run(cells=[cell], steps=steps, eval_every=100, out=out, progress=False,
                             execution=Execution(jobs=1, threads=threads))
        seconds = clock() - start
    row = frame.iloc[0]
    if row["status"] != "ok":
        raise SystemExit(f"{cell}: {row['status']}")
    return seconds, float(row["train_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="gru,modern", help="cells or groups; the first is the yardstick")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="cpu", help="process CPU time or wall time")
    args = parser.parse_args()

    from seqbench.plugins.registry import Registry
    from seqbench.spec.config import parse_names

    names = Registry(entry_points=False).select_cells(parse_names(args.cells))
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    trial_seconds(names[0], 20, args.threads, clock)  # warm-up: imports, first-call costs
    print(f"adding T=50, 20k parameters, {args.steps} steps, evaluation every 100 steps, "
          f"{args.threads} torch thread(s), {args.clock} time")
    print(f"{'cell':10s} {'trial s':>8s} {'train s':>8s} {'× ' + names[0]:>9s}")
    first = None
    for name in names:
        seconds, train_s = trial_seconds(name, args.steps, args.threads, clock)
        first = first or seconds
        print(f"{name:10s} {seconds:8.1f} {train_s:8.1f} {seconds / first:9.2f}", flush=True)


if __name__ == "__main__":
    main()
