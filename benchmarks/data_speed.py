"""Data never the bottleneck: the time to generate one batch of every built-in task against a
training step of the smallest built-in model at the same batch and length (goal < 2 %).

The training step is the harness's (forward, loss, backward, gradient clipping, Adam) on a
batch drawn beforehand, so it excludes the data; the smallest model is the built-in cell
(``*-ref`` aside) whose whole model (embedding, cell, head) has the fewest parameters on that
task. Both are medians over repeated calls after warm-up, in the same process.

    python benchmarks/data_speed.py [--batch 64] [--length 100] [--hidden 64] [--device cpu]
"""
from __future__ import annotations

import argparse

import torch

from seqbench.train.measure import median_seconds
from seqbench.models.model import build_model, count_params
from seqbench.plugins.registry import Registry
from seqbench.plugins.factories import build_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    registry = Registry(entry_points=False)
    cells = [n for n in registry.default_cells() if registry.cells[n].provider.startswith("seqbench.")]
    tasks = [n for n, e in registry.tasks.items() if e.provider.startswith("seqbench.")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}; batch {args.batch}, "
          f"T={args.length}, hidden {args.hidden}; goal: batch generation < 2 % of a training step")
    worst = 0.0
    for name in tasks:
        task = build_task(registry.get("task", name), args.length)
        sizes = {}
        for cell in cells:
            torch.manual_seed(0)
            sizes[cell] = count_params(build_model(task, registry.get("cell", cell), args.hidden, 1, 0.0))
        smallest = min(sizes, key=sizes.get)
        torch.manual_seed(0)
        model = build_model(task, registry.get("cell", smallest), args.hidden, 1, 0.0).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        generator = torch.Generator(device=device).manual_seed(0)
        x, y = task.sample(args.batch, generator, device)

        def step() -> None:
            out, _ = model(x)
            loss = task.loss(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()

        data_s, data_iqr = median_seconds(lambda: task.sample(args.batch, generator, device), device, warmup=3,
                                          repeats=20, min_time=0.3)
        step_s, step_iqr = median_seconds(step, device, warmup=3, repeats=10, min_time=0.5)
        ratio = data_s / step_s
        worst = max(worst, ratio)
        print(f"  {name:20s} batch {data_s * 1e3:8.3f} ms (IQR {data_iqr:.0%})   {smallest} step "
              f"{step_s * 1e3:8.2f} ms (IQR {step_iqr:.0%})   ratio {ratio:6.2%}  {'ok' if ratio < 0.02 else 'MISSED'}")
    print(f"worst ratio {worst:.2%} (goal < 2 %)")


if __name__ == "__main__":
    main()
