"""Harness overhead: seqbench's training throughput against a bare hand-written PyTorch loop.

Both train the same model (fused LSTM, hidden H, linear head) on the adding problem at the
same batch, length, learning rate and clipping, in the same process, alternating A/B over
several repeats. seqbench's figure is its own end-to-end training loop time (``train_s`` in
results.csv: data, forward, backward, clip, Adam step, per-step timing, loss checks and
logging; evaluation excluded), so every cost the harness adds to a step is counted.

    python benchmarks/overhead.py [--steps 100] [--repeats 15] [--hidden 64] [--batch 64] [--length 100]

Prints each side's end-to-end and median-step throughput, and the ratio seqbench / bare as
the median over back-to-back pairs (so drifts in machine load cancel), with its IQR
(goal ≥ 0.97).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch import nn

import seqbench


def bare_loop(steps: int, hidden: int, batch: int, length: int, lr: float, clip: float,
              seed: int = 0) -> tuple[float, float]:
    """A minimal training loop written by hand: (end-to-end tok/s, median-step tok/s)."""
    torch.manual_seed(seed)
    lstm = nn.LSTM(2, hidden, batch_first=True)
    head = nn.Linear(hidden, 1)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    half = length // 2
    step_times = []
    start = time.perf_counter()
    for _ in range(steps):
        step_start = time.perf_counter()
        values = torch.rand(batch, length, generator=gen)
        first = torch.randint(0, half, (batch, 1), generator=gen)
        second = torch.randint(half, length, (batch, 1), generator=gen)
        markers = torch.zeros(batch, length).scatter_(1, first, 1.0).scatter_(1, second, 1.0)
        x = torch.stack((values, markers), -1)
        y = (values * markers).sum(1)
        out, _ = lstm(x)
        loss = (head(out)[:, -1, 0] - y).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        step_times.append(time.perf_counter() - step_start)
    elapsed = time.perf_counter() - start
    return steps * batch * length / elapsed, batch * length / statistics.median(step_times[5:])


def harness(steps: int, hidden: int, batch: int, length: int, lr: float, clip: float,
            out: str) -> tuple[float, float]:
    """seqbench's own figures for the same training: (end-to-end tok/s, median-step tok/s)."""
    frame = seqbench.run("lstm", "adding", [length], steps=steps, hidden=hidden, batch=batch, lr=lr,
                         clip=clip, device="cpu", eval_every=steps + 1, eval_examples=batch, out=out)
    row = frame.iloc[0]
    assert row["status"] == "ok", row["status"]
    return row["steps"] * batch * length / row["train_s"], row["train_tok_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--clip", type=float, default=1.0)
    args = parser.parse_args()
    shape = dict(hidden=args.hidden, batch=args.batch, length=args.length, lr=args.lr, clip=args.clip)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; lstm on adding, "
          f"T={args.length}, batch {args.batch}, hidden {args.hidden}, {args.steps} steps × {args.repeats} repeats")
    bare_loop(20, **shape)  # warm-up: kernels, allocator, thread pool
    bare, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # alternate, so drifts in machine load hit both alike
            bare.append(bare_loop(args.steps, **shape))
            ours.append(harness(args.steps, out=tmp, **shape))
    paired = [o[0] / b[0] for b, o in zip(bare, ours)]
    print("end-to-end = all steps / training-loop time; median step = batch × T / median step time")
    for label, runs in (("bare PyTorch loop", bare), ("seqbench run", ours)):
        print(f"  {label:18s}: end-to-end median {statistics.median(r[0] for r in runs):10,.0f} tok/s "
              f"(best {max(r[0] for r in runs):,.0f}), median step {statistics.median(r[1] for r in runs):10,.0f} tok/s")
    per_step = statistics.median(r[1] for r in ours) / statistics.median(r[1] for r in bare)
    q1, med, q3 = statistics.quantiles(paired, n=4)[0], statistics.median(paired), statistics.quantiles(paired, n=4)[2]
    print(f"ratio seqbench / bare: end-to-end {med:.3f} (median of {len(paired)} back-to-back pairs, "
          f"IQR {q1:.3f}–{q3:.3f}); median step {per_step:.3f}  (goal ≥ 0.97)")

if __name__ == "__main__":
    main()
