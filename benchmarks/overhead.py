"""Harness overhead: seqbench's training throughput against a bare hand-written PyTorch loop.

Both train the same model (fused LSTM, hidden H, linear head) on the adding problem at the
same batch, length, learning rate and clipping, in the same process, alternating A/B over
several repeats. seqbench's figure is its own end-to-end training loop time (``train_s`` in
results.csv: data, forward, backward, clip, Adam step, per-step timing, loss checks and
logging; evaluation excluded), so every cost the harness adds to a step is counted.

    python benchmarks/overhead.py [--steps 300] [--repeats 3] [--hidden 64] [--batch 64] [--length 100]

Prints the median throughput of each and the ratio seqbench / bare (goal ≥ 0.97).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch import nn

import seqbench


def bare_loop(steps: int, hidden: int, batch: int, length: int, lr: float, clip: float, seed: int = 0) -> float:
    """Tokens per second of a minimal training loop written by hand."""
    torch.manual_seed(seed)
    lstm = nn.LSTM(2, hidden, batch_first=True)
    head = nn.Linear(hidden, 1)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    half = length // 2
    start = time.perf_counter()
    for _ in range(steps):
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
    elapsed = time.perf_counter() - start
    return steps * batch * length / elapsed


def harness(steps: int, hidden: int, batch: int, length: int, lr: float, clip: float, out: str) -> float:
    frame = seqbench.run("lstm", "adding", [length], steps=steps, hidden=hidden, batch=batch, lr=lr,
                         clip=clip, device="cpu", eval_every=steps + 1, eval_examples=batch, out=out)
    row = frame.iloc[0]
    assert row["status"] == "ok", row["status"]
    return row["steps"] * batch * length / row["train_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
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
        for _ in range(args.repeats):
            bare.append(bare_loop(args.steps, **shape))
            ours.append(harness(args.steps, out=tmp, **shape))
    b, s = statistics.median(bare), statistics.median(ours)
    print(f"bare PyTorch loop: {b:12,.0f} tok/s  (runs: {', '.join(f'{v:,.0f}' for v in bare)})")
    print(f"seqbench run     : {s:12,.0f} tok/s  (runs: {', '.join(f'{v:,.0f}' for v in ours)})")
    print(f"ratio seqbench / bare = {s / b:.3f}  (goal ≥ 0.97)")


if __name__ == "__main__":
    main()
