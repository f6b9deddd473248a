"""A run's fixed cost, and ``--jobs 2`` against serial, on a small run (issue 22).

``seqbench run --cells lstm,gru --tasks adding --lengths 50 --seeds 2 --steps N``: 4 trials of
about 2 s each on 2 idle cores (``--steps``, default 150). Each repeat times, as fresh processes
(start-up included), one serial run and one ``--jobs 2`` run, each with an empty step-time cache
(``$SEQBENCH_CACHE``: the first run of a shape, the worst case), and ``import torch`` alone.
Prints medians over the repeats of:

- serial wall, the trials' own time (``wall_s`` summed over results.csv), and the fixed cost =
  wall - trials - import torch (goal ≤ 1.5 s on 2 idle cores);
- ``--jobs 2`` wall / serial wall (goal ≤ 0.7);
- the trials' own speed-up from a second torch thread, s = (trials at 1 thread) / (trials at 2
  threads), from a third, serial ``--threads 1`` run: two workers of one thread each can at best
  take s/2 of the serial trials' time, so s/2 bounds the jobs/serial ratio from below whatever
  the executor does.

    python benchmarks/fixed_cost.py [--steps 150] [--repeats 3] [--run-args '--quick-eval 256']

On a machine that is not idle the trials slow down and the ratios move: it says so.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parallel import timed_run

CELLS = "lstm,gru"


def torch_import_s() -> float:
    code = "import time; t = time.perf_counter(); import torch; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--run-args", default="", help="more seqbench run options for both runs, e.g. "
                        "'--quick-eval 256' (periodic evaluation on part of the validation set)")
    args = parser.parse_args()
    more = args.run_args.split()
    from seqbench.execute.cores import available_cores, busy_cores

    busy = busy_cores(1.0)
    print(f"{available_cores()} cores; busy with other work before the start: {busy:.1f} cores"
          + ("  (NOT idle: figures measured under load)" if busy and busy > 0.3 else ""))
    serial, trials, imports, jobs, one_thread = [], [], [], [], []
    root = Path(tempfile.mkdtemp(prefix="seqbench-fixed-cost-"))
    try:
        for repeat in range(args.repeats):
            started = time.perf_counter()
            imports.append(torch_import_s())
            wall, rows = timed_run(root / f"serial{repeat}", more, args.steps, CELLS,
                                   {"SEQBENCH_CACHE": str(root / f"cache-s{repeat}")})
            serial.append(wall)
            trials.append(float(rows["wall_s"].sum()))
            wall, _ = timed_run(root / f"jobs{repeat}", ["--jobs", "2", *more], args.steps, CELLS,
                                {"SEQBENCH_CACHE": str(root / f"cache-j{repeat}")})
            jobs.append(wall)
            _, rows = timed_run(root / f"one{repeat}", ["--threads", "1", *more], args.steps, CELLS,
                                {"SEQBENCH_CACHE": str(root / f"cache-1{repeat}")})
            one_thread.append(float(rows["wall_s"].sum()))
            print(f"  repeat {repeat + 1}: serial {serial[-1]:.2f} s (trials {trials[-1]:.2f} s), import torch "
                  f"{imports[-1]:.2f} s, --jobs 2 {jobs[-1]:.2f} s, trials at 1 thread {one_thread[-1]:.2f} s  "
                  f"[{time.perf_counter() - started:.0f} s]")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    fixed = [s - t - i for s, t, i in zip(serial, trials, imports)]
    ratio = [j / s for j, s in zip(jobs, serial)]
    med = statistics.median
    print(f"medians of {args.repeats}: serial wall {med(serial):.2f} s; trials' wall_s summed {med(trials):.2f} s; "
          f"import torch {med(imports):.2f} s")
    print(f"fixed cost (wall - trials - import torch): {med(fixed):.2f} s "
          f"(range {min(fixed):.2f}–{max(fixed):.2f}; goal ≤ 1.5: {'met' if med(fixed) <= 1.5 else 'NOT met'})")
    print(f"--jobs 2 / serial wall: {med(ratio):.2f} (range {min(ratio):.2f}–{max(ratio):.2f}; "
          f"goal ≤ 0.7: {'met' if med(ratio) <= 0.7 else 'NOT met'})")
    speedup = [o / t for o, t in zip(one_thread, trials)]
    print(f"the trials' speed-up from a second thread s: {med(speedup):.2f} (range {min(speedup):.2f}–"
          f"{max(speedup):.2f}); two one-thread workers can at best reach jobs/serial = s/2 = {med(speedup) / 2:.2f}")


if __name__ == "__main__":
    main()
