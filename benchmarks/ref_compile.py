"""The cost of writing a cell by hand: ``lstm-ref`` training step time over the fused ``lstm``'s,
in each mode (eager, jit, compile; goal for compile ≤ 1.5 ×).

Each variant trains the cell alone (as ``seqbench speed`` does: input of width hidden, loss
the mean square of the output, forward + backward + Adam) on the same input; the variants
run in turn within each round, so drifts in machine load hit all alike, and the ratio is the
median over rounds of (variant / fused lstm) in the same round. ``compile`` first compiles
for 10-30 s (not timed).

    python benchmarks/ref_compile.py [--batch 32] [--length 100] [--hidden 128] [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from seqbench.studies.speed import build_cell
from seqbench.train.measure import median_seconds
from seqbench.plugins.registry import Registry


def trainer(entry, hidden: int, x: torch.Tensor, params: dict):
    torch.manual_seed(0)
    cell = build_cell(entry, hidden, 1, params)
    optimizer = torch.optim.Adam(cell.parameters(), lr=1e-4)

    def step() -> None:
        y, _ = cell(x)
        loss = y.square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return cell, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    registry = Registry(entry_points=False)
    x = torch.randn(args.batch, args.length, args.hidden)
    variants = {"lstm": (registry.get("cell", "lstm"), {})}
    for mode in ("eager", "jit", "compile"):
        variants[f"lstm-ref {mode}"] = (registry.get("cell", "lstm-ref"), {"mode": mode})
    steps = {}
    for name, (entry, params) in variants.items():
        cell, steps[name] = trainer(entry, args.hidden, x, params)
        for _ in range(3):  # warm-up; compiles in compile mode
            steps[name]()
        if params and cell.mode != params["mode"]:  # a mode that failed fell back to eager
            print(f"  note: {name} runs as {cell.mode}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; training step, batch {args.batch}, "
          f"T={args.length}, hidden {args.hidden}; {args.rounds} rounds")
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, step in steps.items():
            times[name].append(median_seconds(step, torch.device("cpu"), warmup=1, repeats=5, min_time=0.3)[0])
    for name in variants:
        ratios = [t / f for t, f in zip(times[name], times["lstm"])]
        goal = "  (goal ≤ 1.5 ×)" if name.endswith("compile") else ""
        print(f"  {name:18s} {statistics.median(times[name]) * 1e3:9.2f} ms/step   × {statistics.median(ratios):5.2f} "
              f"the fused lstm (rounds {min(ratios):.2f}–{max(ratios):.2f}){goal}")


if __name__ == "__main__":
    main()
