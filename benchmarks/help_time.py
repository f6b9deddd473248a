"""``seqbench --help`` wall time in a fresh subprocess, median of several (goal < 0.5 s).

Uses the ``seqbench`` console script next to this Python when installed, else
``python -m seqbench``. Also reports whether torch was imported (it must not be).

    python benchmarks/help_time.py [--repeats 9]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    script = Path(sys.executable).with_name("seqbench")
    command = [str(script), "--help"] if script.exists() else [sys.executable, "-m", "seqbench", "--help"]
    env = {**os.environ, "SEQBENCH_LOAD_PLUGINS": os.environ.get("SEQBENCH_LOAD_PLUGINS", "")}
    subprocess.run(command, capture_output=True, check=True, env=env)  # warm the file cache
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - start)
    probe = [sys.executable, "-c", "import sys; from seqbench.cli import build_parser; build_parser().format_help(); "
             "print('torch' in sys.modules)"]
    torch_loaded = subprocess.run(probe, capture_output=True, text=True, env=env).stdout.strip()
    bare = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True)
        bare.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(command))}: median {median:.3f} s over "
          f"{args.repeats} runs (min {min(times):.3f}, max {max(times):.3f}); bare interpreter start "
          f"{statistics.median(bare):.3f} s; torch imported: {torch_loaded}")
    print(f"ratio to the 0.5 s goal: {median / 0.5:.2f}  {'ok' if median < 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
