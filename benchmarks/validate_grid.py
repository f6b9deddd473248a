"""Up-front validation of a 500-trial grid: every configuration's task built, its width solved
for the parameter budget and its model built on the meta device, before any training (goal < 5 s
on 2 CPU cores).

The grid: 4 cells × adding and copy × lengths 50, 100 × lr 1e-3, 3e-3, 1e-2 × params 10k, 20k, 40k
× the LSTM's forget bias 0, 1 × 3 seeds (cells without the option get a single value) = 540 trials.
Prints the number of trials, distinct models and the median of 5 timings of ``runner.plan``
(expansion + validation), and the same for a fresh registry each time.

    python benchmarks/validate_grid.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from seqbench.spec.config import RunConfig
    from seqbench.plugins.registry import Registry
    from seqbench.runs.runner import plan

    registry = Registry()
    config = RunConfig(cells=["rnn", "lstm", "gru", "transformer"], tasks=["adding", "copy"], lengths=[50, 100],
                       lr=[1e-3, 3e-3, 1e-2], params=["10k", "20k", "40k"], seeds=3,
                       cell_params={"lstm": {"forget_bias": [0, 1]}})
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        trials, _ = plan([config], registry)
        times.append(time.perf_counter() - started)
    widths = {(t.cell, t.task, t.length, t.params_budget, t.hidden) for t in trials}
    print(f"{len(trials)} trials, {len(widths)} distinct widths solved; plan (expand + validate): "
          f"median {statistics.median(times):.2f} s over {args.repeats} (min {min(times):.2f} s, first {times[0]:.2f} s)")
    print(f"goal < 5 s: {'met' if statistics.median(times) < 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
