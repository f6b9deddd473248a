"""Compression's decoder head applied at the last step only against at every step (issue 26).

Compression reads the model's output at the last step only, as ``T × vocab`` logits
(``CompressionTask.reads_last_step_only``), so the model applies its head there alone. This times
training steps (forward, loss, backward, AdamW step) of the same model both ways, alternating in
one process, at the ``--params`` budget of the MAD suite, and prints the ratio per cell and setting:

    python benchmarks/compression_head.py [--steps 30] [--repeats 5] [--threads 1]

Each repeat times ``--steps`` steps each way, in CPU seconds of this process (``time.process_time``:
with one torch thread, what other processes take of the cores is not counted); the medians are
compared. On a busy machine the times still move (shared caches), the ratio less so.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from seqbench.models.budget import match_hidden
from seqbench.models.model import build_model
from seqbench.plugins.registry import Registry
from seqbench.tasks.compression import CompressionTask

SETTINGS = ((16, 8), (32, 8), (16, 16), (32, 16))  # (T, vocab): the MAD suite's, then MAD's baseline


def step_seconds(model: torch.nn.Module, task: CompressionTask, batch: tuple, steps: int) -> float:
    """CPU seconds per training step of ``model`` on ``batch``, over ``steps`` steps."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    started = time.process_time()
    for _ in range(steps):
        out, _ = model(batch[0])
        loss = task.loss(out, batch[1])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.process_time() - started) / steps


def compare(cell: str, length: int, vocab: int, steps: int, repeats: int, registry: Registry) -> None:
    task = CompressionTask(length, vocab)
    entry = registry.get("cell", cell)
    hidden = match_hidden(task, entry, 20_000, 1, None)[0]
    model = build_model(task, entry, hidden, 1, 0.0)
    batch = task.sample(32, torch.Generator().manual_seed(0), "cpu")
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):
        for last in (False, True):
            model.last_step_only = last
            times[last].append(step_seconds(model, task, batch, steps))
    every, last = statistics.median(times[False]), statistics.median(times[True])
    print(f"{cell:12s} T={length:3d} vocab={vocab:3d} hidden={hidden:3d}: every step {every * 1e3:6.2f} ms, "
          f"last step {last * 1e3:6.2f} ms CPU per training step; speed-up ×{every / last:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = Registry()
    for cell in ("gru", "transformer"):
        for length, vocab in SETTINGS:
            compare(cell, length, vocab, args.steps, args.repeats, registry)


if __name__ == "__main__":
    main()
