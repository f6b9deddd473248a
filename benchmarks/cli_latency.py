"""How fast the CLI answers where it need not train: median wall time of fresh ``seqbench``
processes for a typo in ``--cells``, a bad number, a broken suite file, ``list``, ``plugins``
and ``--help`` (goal < 0.5 s each on an idle 2-core machine), and whether torch got imported
(read from ``-X importtime``; it must not be).

Installed plugins are loaded as a user would have them (set ``SEQBENCH_LOAD_PLUGINS`` to
choose). Uses the ``seqbench`` console script next to this Python, else ``python -m seqbench``.

    python benchmarks/cli_latency.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 0.5
COMMANDS = [
    ("typo in --cells", ["run", "--cells", "lstmm"], 2),
    ("bad number", ["run", "--steps", "abc"], 2),
    ("broken suite", ["run", "--suite", "broken.toml"], 2),
    ("list", ["list"], 0),
    ("plugins", ["plugins"], 0),
    ("--help", ["--help"], 0),
]


def timed(command: list[str], cwd: str, env: dict) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, cwd=cwd, env=env, timeout=120)
    return time.perf_counter() - start, result.returncode


def imports_torch(args: list[str], cwd: str, env: dict) -> bool:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "seqbench", *args], capture_output=True,
                            text=True, cwd=cwd, env=env, timeout=120)
    return any(line.rstrip().endswith("| torch") for line in result.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    script = Path(sys.executable).with_name("seqbench")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "seqbench"]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    with tempfile.TemporaryDirectory() as cwd:
        Path(cwd, "broken.toml").write_text('[[part]]\ncells = ["lstm"]\nstepz = 10\n', encoding="utf-8")
        bare = statistics.median(timed([sys.executable, "-c", "pass"], cwd, env)[0] for _ in range(args.repeats))
        print(f"bare interpreter start: {bare:.3f} s; plugins: "
              f"{os.environ.get('SEQBENCH_LOAD_PLUGINS', 'every installed entry point')}")
        print(f"{'command':<40} {'median':>8} {'min':>7} {'max':>7}  torch  exit  goal {GOAL_S} s")
        missed = 0
        for label, argv, expected in COMMANDS:
            timed(base + argv, cwd, env)  # warm the file cache
            runs = [timed(base + argv, cwd, env) for _ in range(args.repeats)]
            times = [t for t, _ in runs]
            codes = {code for _, code in runs}
            median = statistics.median(times)
            torch = imports_torch(argv, cwd, env)
            ok = median < GOAL_S and not torch and codes == {expected}
            missed += not ok
            shown = f"{label}: seqbench {' '.join(argv)}"
            print(f"{shown:<40} {median:>7.3f}s {min(times):>6.3f}s {max(times):>6.3f}s  "
                  f"{'yes' if torch else 'no':<5}  {','.join(map(str, sorted(codes))):<4}  "
                  f"{median / GOAL_S:.2f}× {'ok' if ok else 'MISSED'}")
        print(f"{len(COMMANDS) - missed} of {len(COMMANDS)} within {GOAL_S} s without torch "
              f"(median of {args.repeats} fresh processes each)")


if __name__ == "__main__":
    main()
