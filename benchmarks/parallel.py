"""The same 8 small trials run three ways on this machine: serially (one process, all cores'
threads), with ``--jobs 2`` (two worker processes, cores/2 threads each) and with
``--executor ray`` (Ray started locally). Goals on 2 cores: ``--jobs 2`` wall ≤ 0.55 × serial;
Ray ≤ 1.15 × ``--jobs 2``. Each is a fresh ``seqbench run`` process, start-up included; Ray's
start-up (``ray.init`` on this machine) and its per-trial overhead are printed separately.

The trials: rnn, lstm, gru, transformer × 2 seeds on adding T=50, 20k parameters, --steps
(default 300). Run it on an otherwise idle machine: it warns when it is not.

    python benchmarks/parallel.py [--steps 300] [--skip-ray]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(out: Path, extra: list[str], steps: int, cells: str = "rnn,lstm,gru,transformer",
              env: dict | None = None) -> tuple[float, object]:
    """Wall seconds of one fresh ``seqbench run`` process (start-up included) and its results."""
    args = [sys.executable, "-m", "seqbench", "run", "--cells", cells, "--seeds", "2",
            "--lengths", "50", "--steps", str(steps), "--params", "20k", "--quiet", "--out", str(out), *extra]
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True,
                          env={**os.environ, "SEQBENCH_LOAD_PLUGINS": "", **(env or {})})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(extra) or 'serial'} failed:\n{done.stderr[-3000:]}")
    from seqbench.store import load_run

    return wall, load_run(next(out.glob("*/results.csv")).parent)


def ray_startup() -> float:
    code = ("import time; t = time.perf_counter(); import ray; ray.init(include_dashboard=False, "
            "logging_level='ERROR'); print(time.perf_counter() - t); ray.shutdown()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    from seqbench.execute.cores import available_cores, busy_cores

    busy = busy_cores(1.0)
    print(f"{available_cores()} cores; busy with other work before the start: {busy:.1f} cores")
    root = Path(tempfile.mkdtemp(prefix="seqbench-parallel-bench-"))
    try:
        serial, serial_rows = timed_run(root / "serial", [], args.steps)
        jobs, jobs_rows = timed_run(root / "jobs", ["--jobs", "2"], args.steps)
        print(f"serial:   {serial:6.1f} s wall ({serial_rows['train_s'].sum():.1f} s of training, "
              f"{int(serial_rows['threads'].iloc[0])} threads)")
        print(f"--jobs 2: {jobs:6.1f} s wall ({jobs_rows['train_s'].sum():.1f} s of training over 2 workers, "
              f"{int(jobs_rows['threads'].iloc[0])} thread each)")
        print(f"ratio --jobs 2 / serial: {jobs / serial:.2f} (goal ≤ 0.55: {'met' if jobs / serial <= 0.55 else 'NOT met'})")
        if args.skip_ray:
            return
        startup = ray_startup()
        ray, ray_rows = timed_run(root / "ray", ["--executor", "ray"], args.steps)
        overhead = (ray - jobs) / len(ray_rows)
        print(f"ray:      {ray:6.1f} s wall ({ray_rows['train_s'].sum():.1f} s of training); ray.init alone "
              f"{startup:.1f} s; per-trial overhead beyond --jobs 2: {overhead:+.2f} s")
        print(f"ratio ray / --jobs 2: {ray / jobs:.2f} (goal ≤ 1.15: {'met' if ray / jobs <= 1.15 else 'NOT met'})")
        same = all(serial_rows.set_index("trial").loc[r.trial, "steps"] == r.steps for r in ray_rows.itertuples())
        print(f"every trial ran its {args.steps} steps under each executor: {same}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
