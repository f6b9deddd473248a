"""The results store at sweep scale: appending the N-th row, loading and reporting a 100,000-row
run, and kill -9 while rows are appended (goals: the 100,000th append < 5 ms, load + report
< 10 s, a killed writer loses no row it had finished writing).

Rows are copies of a real trial's row (one tiny trial is trained first), 4 cells × 25 lengths ×
1,000 seeds of the adding task. For comparison, the store before this one rewrote the whole file
(temporary file, fsync, rename) at every append; its cost at the 1,000th and 3,000th row is
measured in the same run.

    python benchmarks/store.py [--rows 100000] [--kills 20]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CELLS = ("rnn", "lstm", "gru", "transformer")


def template(folder: Path) -> tuple[dict, dict]:
    """One real row and config.json, from a 5-step trial."""
    from seqbench.runs.runner import run
    from seqbench.store import CONFIG_JSON, RunDir

    frame = run(["lstm"], "adding", [50], steps=5, hidden=16, eval_every=5, out=folder, progress=False)
    row = frame.iloc[0].to_dict()
    return row, RunDir.open(frame.attrs["run_dir"]).read_json(CONFIG_JSON)


def synthetic_rows(row: dict, n: int):
    lengths = [50 * (i + 1) for i in range(25)]
    rng = random.Random(0)
    i = 0
    while i < n:
        for cell in CELLS:
            for length in lengths:
                seed = i // (len(CELLS) * len(lengths))
                yield {**row, "trial": f"{cell}|adding|{length}|{seed}", "cell": cell, "length": length,
                       "seed": seed, "loss": rng.random() * 0.17, "val_loss": rng.random() * 0.17}
                i += 1
                if i >= n:
                    return


def appends(folder: Path, row: dict, config: dict, n: int) -> list[float]:
    from seqbench.store import CONFIG_JSON, RunDir

    folder.mkdir(parents=True, exist_ok=True)
    run = RunDir(folder)
    run.write_json(CONFIG_JSON, {**config, "tasks": {f"adding|{50 * (i + 1)}": next(iter(config["tasks"].values()))
                                                      for i in range(25)}})
    times = []
    for r in synthetic_rows(row, n):
        started = time.perf_counter()
        run.append(r)
        times.append(time.perf_counter() - started)
    run.close()
    return times


def rewrite_cost(folder: Path, row: dict, at: int, repeats: int = 5) -> float:
    """The old store: the N-th append rewrote all N rows (median of a few)."""
    from seqbench.store import RunDir

    rows = list(synthetic_rows(row, at - 1))
    folder.mkdir(parents=True, exist_ok=True)
    run = RunDir(folder)
    times = []
    for k in range(repeats):
        started = time.perf_counter()
        run.replace_rows([*rows, {**row, "trial": f"extra{k}"}])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


WRITER = textwrap.dedent("""
    import sys
    from seqbench.store import RunDir
    run = RunDir.open(sys.argv[1])
    start = len(run.rows)
    for i in range(start, start + 10_000_000):
        run.append({"trial": f"t{i}", "loss": 1.0 / (i + 1), "status": "ok", "pad": "x" * 400})
        print(i, flush=True)  # acknowledged: append returned
""")


def kills(folder: Path, n: int) -> tuple[int, int]:
    """SIGKILL a writer n times at random moments; return (rows acknowledged but lost, torn tails seen)."""
    from seqbench.store import RESULTS_CSV, read_frame

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    rng = random.Random(1)
    lost = torn = 0
    for _ in range(n):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        first = proc.stdout.readline()  # started appending
        time.sleep(rng.random() * 0.5)
        os.killpg(proc.pid, signal.SIGKILL)
        acknowledged = [int(line) for line in [first, *proc.stdout.read().splitlines()] if line.strip()]
        proc.wait()
        torn += not (folder / RESULTS_CSV).read_bytes().endswith(b"\n")
        trials = read_frame(folder / RESULTS_CSV)["trial"].tolist()
        assert trials == [f"t{i}" for i in range(len(trials))], "rows out of order or repeated"
        if acknowledged:
            lost += max(0, acknowledged[-1] + 1 - len(trials))
    return lost, torn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="seqbench-store-bench-"))
    try:
        row, config = template(root / "template")
        print(f"row: {len(row)} columns; {args.rows:,} rows of 4 cells × 25 lengths × seeds")
        times = appends(root / "big", row, config, args.rows)
        for n in (1_000, 10_000, 100_000):
            if n <= len(times):
                window = times[max(0, n - 50):n]
                print(f"append #{n:>7,}: median {statistics.median(window) * 1e3:.2f} ms (of the 50 before it)")
        print(f"all {len(times):,} appends: {sum(times):.1f} s; file {(root / 'big' / 'results.csv').stat().st_size / 1e6:.0f} MB")
        for n in (1_000, 3_000):
            old = rewrite_cost(root / f"old{n}", row, n)
            new = statistics.median(times[max(0, n - 50):n])
            print(f"old store (rewrite all) at row {n:,}: {old * 1e3:.1f} ms; append-only {new * 1e3:.2f} ms "
                  f"→ {old / new:.0f}× faster")
        started = time.perf_counter()
        from seqbench.store import load_run

        frame = load_run(root / "big")
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "seqbench", "report", str(root / "big")], capture_output=True,
                             text=True, env={**os.environ, "COLUMNS": "120"})
        reported = time.perf_counter() - started
        assert out.returncode == 0, out.stderr[-2000:]
        print(f"load_run of {len(frame):,} rows: {loaded:.2f} s; `seqbench report` (fresh process, import "
              f"included): {reported:.2f} s (goal < 10 s: {'met' if reported < 10 else 'NOT met'})")
        lost, torn = kills(root / "kills", args.kills)
        print(f"kill -9 × {args.kills} while appending: {lost} acknowledged rows lost, {torn} torn last lines "
              f"dropped on read (goal: 0 lost)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
