"""Training step time of minGRU / minLSTM at T=1024: parallel log-space scan vs sequential.

    python plugins/seqbench-mingru/benchmarks/train_step.py [--length 1024] [--device cpu|cuda]

One step = forward, mean-squared loss, backward and an Adam update of a cell + linear head, on
random data. Both modes have the same weights; the median of ``--repeats`` timed steps after
two warm-ups is reported, and the ratio sequential / parallel (> 1: the scan is faster) is
measured in this one run, so machine load affects both sides alike.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from seqbench_mingru import minlstm, mingru


def step_seconds(cell: nn.Module, x: torch.Tensor, hidden: int, repeats: int) -> float:
    head = nn.Linear(hidden, 1).to(x.device)
    model = nn.ModuleDict({"cell": cell, "head": head})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    target = torch.randn(x.shape[0], x.shape[1], 1, device=x.device)
    times = []
    for i in range(repeats + 2):
        if x.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        y, _ = cell(x)
        loss = (head(y) - target).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if x.is_cuda:
            torch.cuda.synchronize()
        if i >= 2:  # warm-up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    x = torch.randn(args.batch, args.length, args.hidden, device=device)
    print(f"T={args.length} batch={args.batch} hidden={args.hidden} layers={args.layers} device={device} "
          f"threads={torch.get_num_threads()}")
    for factory in (mingru, minlstm):
        seconds = {}
        for mode in ("sequential", "parallel"):
            torch.manual_seed(0)
            cell = factory(args.hidden, args.hidden, args.layers, mode=mode).to(device)
            seconds[mode] = step_seconds(cell, x, args.hidden, args.repeats)
        ratio = seconds["sequential"] / seconds["parallel"]
        print(f"{factory.__name__:8s} sequential {seconds['sequential'] * 1e3:9.1f} ms/step   "
              f"parallel {seconds['parallel'] * 1e3:8.1f} ms/step   parallel is {ratio:.1f}x faster")


if __name__ == "__main__":
    main()
