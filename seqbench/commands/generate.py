"""``seqbench generate``: stream text sampled from a charlm checkpoint (``seqbench.studies.sampling``)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from seqbench.hookspecs import hookimpl


def add_arguments(gen: argparse.ArgumentParser) -> None:
    gen.add_argument("checkpoint", metavar="CHECKPOINT", help="a run's checkpoints/*.pt file")
    gen.add_argument("--prompt", default="", help="text to start from (default: a newline)")
    gen.add_argument("--length", type=int, default=300, help="characters to sample (default: 300)")
    gen.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 = greedy (default: 1)")
    gen.add_argument("--top-k", dest="top_k", type=int, help="sample among the K most likely characters only")
    gen.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    gen.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")


def command(args: Any, registry: Any) -> int:
    import time

    from seqbench.studies.sampling import sample

    chars = sample(args.checkpoint, args.prompt, args.length, args.temperature, args.top_k, args.seed,
                   args.device, registry)
    first = next(chars, "")  # loads the model and checks every option before anything is printed
    started = time.perf_counter()
    sys.stdout.write(args.prompt + first)
    count = len(first)
    for char in chars:  # streamed as sampled
        sys.stdout.write(char)
        sys.stdout.flush()
        count += 1
    seconds = time.perf_counter() - started
    sys.stdout.write("\n")
    print(f"{count:,} characters in {seconds:.2f} s: {count / max(seconds, 1e-9):,.0f} chars/s", file=sys.stderr)
    return 0


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("generate", add_arguments, command, help="sample text from a charlm checkpoint",
             description="Stream characters sampled from a character language model saved by seqbench run --save; "
             "the speed goes to stderr. Same seed, same text.")
